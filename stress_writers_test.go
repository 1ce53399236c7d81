package engram

// Writers of TestStress: owners (sole writers of their IDs, checked read-your-writes) and
// contenders (racing upserts and forgets on shared IDs).

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// owner works on its own IDs of one space: only it touches them, one call at a time, so it
// knows their exact state and checks every result against it.
func (h *stress) owner(spec stressSpec, w int, r *rand.Rand) {
	ctx := context.Background()
	who := fmt.Sprintf("o%d", w)
	var inc *incarnation
	var model map[string]ownedMem
	ownedID := func() string { return fmt.Sprintf("o%d-%d", w, r.IntN(stressOwned)) }
	for !h.stopped() {
		if inc == nil {
			if inc = h.current(spec.name); inc == nil {
				return
			}
			model = inc.model(w)
		}
		sp := inc.sp
		// afterPut checks a write the owner just made (read-your-writes) and records it.
		afterPut := func(m Memory) bool {
			model[m.ID] = ownedMem{content: m.Content, conf: m.Conf()}
			got, err := sp.Get(ctx, m.ID)
			if !h.ok("get after write", err, inc) {
				return false
			}
			h.gets.Add(1)
			if got.Content != m.Content || dot32(got.Embedding, m.Embedding) < 0.9999 {
				h.fail("%v: Get(%s) after its write returned %q, want %q", inc, m.ID, got.Content, m.Content)
			}
			if r.IntN(3) == 0 {
				hits, err := sp.Recall(ctx, Query{Embedding: m.Embedding, K: 1, Exact: true, MinSimilarity: -1})
				if !h.ok("recall after write", err, inc) {
					return false
				}
				h.recalls.Add(1)
				if len(hits) != 1 || hits[0].Memory.ID != m.ID || hits[0].Similarity < 0.9999 {
					h.fail("%v: exact recall of %s's own embedding right after its write: %v", inc, m.ID, hitIDs(hits))
				}
			}
			return true
		}
		// unchanged checks that id is as the model says: a call that failed with
		// DEADLINE_EXCEEDED left no trace.
		unchanged := func(where string, id string) bool {
			h.expect(CodeDeadlineExceeded, 1)
			got, err := sp.Get(ctx, id)
			if gone(err) {
				return h.ok("get after "+where, err, inc)
			}
			mm, present := model[id]
			switch {
			case present && (err != nil || got.Content != mm.content):
				h.fail("%v: %s that failed with DEADLINE_EXCEEDED changed %s: %q %v, want %q", inc, where, id, got.Content, err, mm.content)
			case !present && CodeOf(err) != CodeNotFound:
				h.fail("%v: %s that failed with DEADLINE_EXCEEDED left %s: %q %v", inc, where, id, got.Content, err)
			}
			return true
		}
		alive := true
		switch op := r.IntN(100); {
		case op < 22: // unary Remember (an upsert when the ID exists), sometimes racing its deadline
			m := h.mem(r, ownedID(), who)
			dctx, cancel, dl := deadline(r, 5, 400*time.Microsecond)
			start := h.tick()
			id, err := sp.Remember(dctx, m)
			end := h.tick()
			cancel()
			if timedOut(err, dl) {
				alive = unchanged("remember", m.ID)
			} else if alive = h.ok("remember", err, inc); alive {
				if id != m.ID {
					h.fail("%v: Remember returned ID %q for %q", inc, id, m.ID)
				}
				h.puts.Add(1)
				h.record(inc, start, end, false, []string{m.ID}, []string{m.Content})
				alive = afterPut(m)
			}
		case op < 40: // BatchRemember: owned IDs, a contended one, invalid items, a duplicate
			alive = h.ownerBatch(r, inc, model, who, ownedID, afterPut)
		case op < 55: // through the space's Batcher, sometimes withdrawn at a deadline
			m := h.mem(r, ownedID(), who)
			b := h.batcher(inc)
			dctx, cancel, dl := deadline(r, 4, 3*time.Millisecond)
			start := h.tick()
			id, err := b.Remember(dctx, m)
			end := h.tick()
			cancel()
			if timedOut(err, dl) {
				alive = unchanged("batcher remember", m.ID)
			} else if alive = h.ok("batcher remember", err, inc, feedClosed(inc)...); alive {
				if id != m.ID {
					h.fail("%v: Batcher.Remember returned ID %q for %q", inc, id, m.ID)
				}
				h.puts.Add(1)
				h.batched.Add(1)
				h.record(inc, start, end, false, []string{m.ID}, []string{m.Content})
				alive = afterPut(m)
			}
		case op < 70: // Forget: the count must match the model
			var ids []string
			for range 1 + r.IntN(3) {
				if id := ownedID(); !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
			want := 0
			for _, id := range ids {
				if _, ok := model[id]; ok {
					want++
				}
			}
			if r.IntN(8) == 0 { // an invalid ID fails the whole call, which then forgets nothing
				_, err := sp.Forget(ctx, append(slices.Clone(ids), "")...)
				if gone(err) {
					alive = h.ok("forget", err, inc)
					break
				}
				if CodeOf(err) != CodeInvalidID {
					h.fail("%v: Forget with an empty ID: %v, want INVALID_ID", inc, err)
				}
				h.expect(CodeInvalidID, 1)
				for _, id := range ids {
					if mm, ok := model[id]; ok {
						got, err := sp.Get(ctx, id)
						if alive = h.ok("get after failed forget", err, inc); !alive {
							break
						}
						if got.Content != mm.content {
							h.fail("%v: %s changed by a Forget that failed: %q, want %q", inc, id, got.Content, mm.content)
						}
					}
				}
				break
			}
			dctx, cancel, dl := deadline(r, 5, 400*time.Microsecond)
			start := h.tick()
			n, err := sp.Forget(dctx, ids...)
			end := h.tick()
			cancel()
			if timedOut(err, dl) {
				alive = unchanged("forget", ids[0])
				break
			}
			if alive = h.ok("forget", err, inc); !alive {
				break
			}
			h.forgets.Add(int64(len(ids)))
			h.record(inc, start, end, true, ids, nil)
			if n != want {
				h.fail("%v: Forget(%v) = %d, the owner's model says %d existed", inc, ids, n, want)
			}
			for _, id := range ids {
				delete(model, id)
			}
			_, err = sp.Get(ctx, ids[0])
			if gone(err) {
				alive = h.ok("get after forget", err, inc)
			} else if CodeOf(err) != CodeNotFound {
				h.fail("%v: Get(%s) after its Forget: %v, want NOT_FOUND", inc, ids[0], err)
			}
		case op < 82: // BatchUpdate: present IDs succeed, absent ones are NOT_FOUND
			var ups []Update
			for range 1 + r.IntN(3) {
				id := ownedID()
				if slices.ContainsFunc(ups, func(u Update) bool { return u.ID == id }) {
					continue
				}
				ups = append(ups, Update{ID: id, Patch: Patch{Confidence: Confidence(float32(r.IntN(101)) / 100),
					SetMetadata: map[string]string{"k": strconv.Itoa(r.IntN(4))}}})
			}
			badAt := -1
			if r.IntN(3) == 0 {
				badAt = len(ups)
				ups = append(ups, Update{ID: "bad-" + strconv.FormatUint(h.tick(), 10), Patch: Patch{Confidence: Confidence(2)}})
			}
			res, err := sp.BatchUpdate(ctx, ups)
			if alive = h.ok("batch update", err, inc); !alive {
				break
			}
			h.updates.Add(int64(len(ups)))
			for i, u := range ups {
				it := res.Items[i]
				_, present := model[u.ID]
				switch {
				case i == badAt:
					if CodeOf(it.Err) != CodeInvalidConfidence {
						h.fail("%v: update with confidence 2: %v", inc, it.Err)
					}
				case present && it.Err != nil, !present && CodeOf(it.Err) != CodeNotFound:
					h.fail("%v: update of %s (present %v): %v", inc, u.ID, present, it.Err)
				case present:
					mm := model[u.ID]
					mm.conf = *u.Patch.Confidence
					model[u.ID] = mm
				}
			}
			if mm, ok := model[ups[0].ID]; ok {
				got, err := sp.Get(ctx, ups[0].ID)
				if alive = h.ok("get after update", err, inc); alive && (got.Conf() != mm.conf || got.Content != mm.content) {
					h.fail("%v: %s after update: conf %v content %q, want %v %q", inc, ups[0].ID, got.Conf(), got.Content, mm.conf, mm.content)
				}
			}
		default: // Get: present with the last content, or NOT_FOUND
			id := ownedID()
			got, err := sp.Get(ctx, id)
			mm, present := model[id]
			if gone(err) {
				alive = h.ok("get", err, inc)
				break
			}
			h.gets.Add(1)
			switch {
			case present && err != nil, !present && CodeOf(err) != CodeNotFound:
				h.fail("%v: Get(%s) (present %v): %v", inc, id, present, err)
			case present && (got.Content != mm.content || got.Conf() != mm.conf):
				h.fail("%v: Get(%s) = %q conf %v, want %q conf %v", inc, id, got.Content, got.Conf(), mm.content, mm.conf)
			case present:
				h.checkVersion("get", inc, got)
			}
		}
		if !alive {
			inc = nil // dropped (or closed): look the space up again
		}
	}
}

// ownerBatch is a BatchRemember of owned IDs with invalid items, a duplicate and maybe a
// contended ID mixed in; every item's outcome is checked.
func (h *stress) ownerBatch(r *rand.Rand, inc *incarnation, model map[string]ownedMem, who string,
	ownedID func() string, afterPut func(Memory) bool) bool {
	ctx := context.Background()
	type item struct {
		m         Memory
		code      Code // the failure expected for it, 0 for none
		contended bool
	}
	var items []item
	for range 2 + r.IntN(5) {
		id := ownedID()
		if !slices.ContainsFunc(items, func(it item) bool { return it.m.ID == id }) {
			items = append(items, item{m: h.mem(r, id, who)})
		}
	}
	if r.IntN(2) == 0 { // a second memory with the ID of the first
		items = append(items, item{m: h.mem(r, items[0].m.ID, who)})
	}
	if r.IntN(3) == 0 {
		items = append(items, item{m: h.mem(r, fmt.Sprintf("c-%d", r.IntN(stressShared)), who), contended: true})
	}
	for range r.IntN(3) {
		m, code := h.bad(r)
		items = append(items, item{m: m, code: code})
	}
	r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	// Of two memories with one ID, the first is stored and the second is the duplicate.
	seen := map[string]bool{}
	for i := range items {
		if items[i].code == 0 && seen[items[i].m.ID] {
			items[i].code = CodeDuplicateID
		}
		seen[items[i].m.ID] = true
	}
	mems := make([]Memory, len(items))
	wantAt := map[int]Code{}
	contended := -1
	for i, it := range items {
		mems[i] = it.m
		if it.code != 0 {
			wantAt[i] = it.code
		}
		if it.contended {
			contended = i
		}
	}
	start := h.tick()
	res, err := inc.sp.BatchRemember(ctx, mems)
	end := h.tick()
	if err != nil {
		// A whole-batch failure: every item carries the batch's code (or its own defect).
		if !h.ok("batch remember", err, inc) {
			for i, it := range res.Items {
				if CodeOf(it.Err) != CodeOf(err) && CodeOf(it.Err) != wantAt[i] {
					h.fail("%v: item %d of a failed batch: %v (batch: %v)", inc, i, it.Err, err)
				}
			}
		}
		return false
	}
	var stored []Memory
	for i, it := range res.Items {
		code, bad := wantAt[i]
		switch {
		case bad && CodeOf(it.Err) != code:
			h.fail("%v: batch item %d: got %v, want %v", inc, i, it.Err, code)
		case !bad && it.Err != nil:
			h.fail("%v: valid batch item %d (%s): %v", inc, i, mems[i].ID, it.Err)
		case !bad:
			if it.ID != mems[i].ID {
				h.fail("%v: batch item %d: ID %q, want %q", inc, i, it.ID, mems[i].ID)
			}
			if i != contended {
				if _, had := model[mems[i].ID]; had != it.Replaced {
					h.fail("%v: batch item %d (%s): Replaced = %v, the owner's model says %v", inc, i, mems[i].ID, it.Replaced, had)
				}
			}
			stored = append(stored, mems[i])
		}
	}
	if res.Stored != len(stored) || res.Failed != len(mems)-len(stored) {
		h.fail("%v: batch counts %d stored %d failed, items say %d / %d", inc, res.Stored, res.Failed, len(stored), len(mems)-len(stored))
	}
	ids, contents := make([]string, len(stored)), make([]string, len(stored))
	for i, m := range stored {
		ids[i], contents[i] = m.ID, m.Content
	}
	h.puts.Add(int64(len(stored)))
	for _, c := range wantAt {
		h.expect(c, 1)
	}
	h.record(inc, start, end, false, ids, contents)
	for _, m := range stored {
		if strings.HasPrefix(m.ID, "c-") {
			continue
		}
		if !afterPut(m) {
			return false
		}
	}
	return true
}

// contender upserts, forgets, updates and reads IDs that other goroutines touch at the same
// time (the contended pool and the stream's IDs); only what is guaranteed is asserted here,
// the rest by the history check.
func (h *stress) contender(spec stressSpec, w int, r *rand.Rand) {
	ctx := context.Background()
	who := fmt.Sprintf("c%d", w)
	var inc *incarnation
	sharedID := func() string { return fmt.Sprintf("c-%d", r.IntN(stressShared)) }
	for !h.stopped() {
		if inc == nil {
			if inc = h.current(spec.name); inc == nil {
				return
			}
		}
		sp := inc.sp
		alive := true
		switch op := r.IntN(100); {
		case op < 25: // unary upsert, sometimes racing its deadline
			m := h.mem(r, sharedID(), who)
			dctx, cancel, dl := deadline(r, 4, 400*time.Microsecond)
			start := h.tick()
			_, err := sp.Remember(dctx, m)
			end := h.tick()
			cancel()
			if timedOut(err, dl) {
				h.expect(CodeDeadlineExceeded, 1) // no trace: not recorded
			} else if alive = h.ok("remember", err, inc); alive {
				h.puts.Add(1)
				h.record(inc, start, end, false, []string{m.ID}, []string{m.Content})
			}
		case op < 40: // batch upsert, with invalid items
			var mems []Memory
			var ids, contents []string
			want := map[int]Code{}
			for range 2 + r.IntN(4) {
				if id := sharedID(); !slices.Contains(ids, id) {
					m := h.mem(r, id, who)
					mems = append(mems, m)
					ids, contents = append(ids, id), append(contents, m.Content)
				}
			}
			if r.IntN(2) == 0 {
				m, code := h.bad(r)
				want[len(mems)] = code
				mems = append(mems, m)
			}
			dctx, cancel, dl := deadline(r, 4, 400*time.Microsecond)
			start := h.tick()
			res, err := sp.BatchRemember(dctx, mems)
			end := h.tick()
			cancel()
			if timedOut(err, dl) {
				h.expect(CodeDeadlineExceeded, 1)
				for i, it := range res.Items {
					if c := CodeOf(it.Err); c != CodeDeadlineExceeded && c != want[i] {
						h.fail("%v: item %d of a batch that timed out: %v", inc, i, it.Err)
					}
				}
			} else if alive = h.ok("batch remember", err, inc); alive {
				for i, it := range res.Items {
					if code, bad := want[i]; CodeOf(it.Err) != code || (!bad && it.ID != mems[i].ID) {
						h.fail("%v: batch item %d (%s): %v, want %v", inc, i, mems[i].ID, it.Err, code)
					} else if bad {
						h.expect(code, 1)
					}
				}
				h.puts.Add(int64(len(ids)))
				h.record(inc, start, end, false, ids, contents)
			}
		case op < 62: // forget contended and stream IDs
			var ids []string
			for range 1 + r.IntN(4) {
				id := sharedID()
				if r.IntN(2) == 0 {
					id = fmt.Sprintf("s-%d", r.IntN(stressStreamN))
				}
				if !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
			dctx, cancel, dl := deadline(r, 4, 400*time.Microsecond)
			start := h.tick()
			n, err := sp.Forget(dctx, ids...)
			end := h.tick()
			cancel()
			if timedOut(err, dl) {
				h.expect(CodeDeadlineExceeded, 1)
			} else if alive = h.ok("forget", err, inc); alive {
				if n < 0 || n > len(ids) {
					h.fail("%v: Forget of %d IDs returned %d", inc, len(ids), n)
				}
				h.forgets.Add(int64(len(ids)))
				h.record(inc, start, end, true, ids, nil)
			}
		case op < 72: // BatchUpdate of IDs that may or may not exist
			var ups []Update
			for range 1 + r.IntN(4) {
				if id := sharedID(); !slices.ContainsFunc(ups, func(u Update) bool { return u.ID == id }) {
					ups = append(ups, Update{ID: id, Patch: Patch{Tags: []string{stressColors[r.IntN(3)]}, DeleteMetadata: []string{"k"}}})
				}
			}
			dctx, cancel, dl := deadline(r, 4, 400*time.Microsecond)
			res, err := sp.BatchUpdate(dctx, ups)
			cancel()
			if timedOut(err, dl) {
				h.expect(CodeDeadlineExceeded, 1)
			} else if alive = h.ok("batch update", err, inc); alive {
				h.updates.Add(int64(len(ups)))
				for i, it := range res.Items {
					if it.Err != nil {
						h.ok("update item", it.Err, inc, CodeNotFound)
					} else if it.ID != ups[i].ID {
						h.fail("%v: update item %d: ID %q, want %q", inc, i, it.ID, ups[i].ID)
					}
				}
			}
		case op < 82: // Get: NOT_FOUND or some written version
			id := sharedID()
			if r.IntN(2) == 0 {
				id = fmt.Sprintf("s-%d", r.IntN(stressStreamN))
			}
			got, err := sp.Get(ctx, id)
			if gone(err) {
				alive = h.ok("get", err, inc)
			} else if h.ok("get", err, inc, CodeNotFound) {
				h.gets.Add(1)
				if got.ID != id {
					h.fail("%v: Get(%s) returned %s", inc, id, got.ID)
				}
				h.checkVersion("get", inc, got)
			}
		case op < 88 && !spec.droppable: // RememberMixed across the spaces that are never dropped
			alive = h.mixed(r, inc, who)
		case op < 92: // UpdateWhere over a scan
			res, err := sp.UpdateWhere(ctx, 4, func(m Memory) (Patch, bool) {
				h.checkVersion("update-where scan", inc, m)
				return Patch{Confidence: Confidence(0.25)}, strings.HasPrefix(m.ID, "c-") && r.IntN(3) == 0
			})
			if alive = h.ok("update where", err, inc); alive {
				for _, it := range res.Items {
					if it.Err != nil {
						h.ok("update-where item", it.Err, inc, CodeNotFound) // forgotten after the scan saw it
					}
				}
			}
		default: // a scan: every memory a whole version
			// (Memories written during the scan may or may not be seen, and one upserted
			// during it may be seen twice, at its old and new position: only versions are
			// checked.)
			for m, err := range sp.All(ctx) {
				if err != nil {
					alive = h.ok("scan", err, inc)
					break
				}
				h.checkVersion("scan", inc, m)
			}
		}
		if !alive {
			inc = nil
		}
	}
}

// mixed sends a RememberMixed to this space, another never-dropped space and a missing one.
func (h *stress) mixed(r *rand.Rand, inc *incarnation, who string) bool {
	ctx := context.Background()
	var other *incarnation
	for other == nil || other == inc {
		spec := stressSpecs[r.IntN(len(stressSpecs))]
		if !spec.droppable {
			other = h.latestOf(spec.name)
		}
	}
	items := []SpaceMemory{{Space: "missing-space", Memory: h.mem(r, "c-0", who)}}
	targets := []*incarnation{nil}
	used := map[string]bool{}
	for _, x := range []*incarnation{inc, inc, other} {
		id := fmt.Sprintf("c-%d", r.IntN(stressShared))
		if used[x.name+"/"+id] {
			continue
		}
		used[x.name+"/"+id] = true
		items = append(items, SpaceMemory{Space: x.name, Memory: h.mem(r, id, who)})
		targets = append(targets, x)
	}
	start := h.tick()
	res, err := h.s.RememberMixed(ctx, items)
	end := h.tick()
	// The error is the first whole-batch failure of one space (CLOSED while closing); the
	// other spaces' items may still have been stored, so every item is looked at.
	alive := err == nil || h.ok("remember mixed", err, inc)
	for i, it := range res.Items {
		if targets[i] == nil {
			if CodeOf(it.Err) != CodeSpaceNotFound && !h.allowed(it.Err, nil) {
				h.fail("RememberMixed item for a missing space: %v", it.Err)
			}
			continue
		}
		if it.Err != nil {
			alive = h.ok("remember mixed item", it.Err, targets[i]) && alive
			continue
		}
		h.puts.Add(1)
		h.record(targets[i], start, end, false, []string{items[i].Memory.ID}, []string{items[i].Memory.Content})
	}
	return alive
}
