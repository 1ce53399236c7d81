package engram

// Readers and background actors of TestStress: recalls, streams, the space dropper and
// the housekeeper (snapshots, syncs, stats).

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// reader recalls with every kind of query and checks each hit against the query.
func (h *stress) reader(spec stressSpec, r *rand.Rand) {
	ctx := context.Background()
	var inc *incarnation
	for !h.stopped() {
		if inc == nil {
			if inc = h.current(spec.name); inc == nil {
				return
			}
		}
		sp := inc.sp
		alive := true
		switch op := r.IntN(10); {
		case op < 5:
			q := stressQuery(r)
			hits, err := sp.Recall(ctx, q)
			if alive = h.ok("recall", err, inc); alive {
				h.recalls.Add(1)
				h.checkHits("recall", inc, q, hits)
			}
		case op < 8: // BatchRecall with invalid queries mixed in
			var qs []Query
			want := map[int]Code{}
			for range 1 + r.IntN(6) {
				q := stressQuery(r)
				switch r.IntN(8) {
				case 0:
					q.K, want[len(qs)] = 0, CodeInvalidQuery
				case 1:
					q.Embedding, want[len(qs)] = randUnit(r, stressDim+2), CodeDimensionMismatch
				case 2:
					q.Embedding, want[len(qs)] = make([]float32, stressDim), CodeInvalidEmbedding
				case 3:
					q.MinSimilarity, want[len(qs)] = 2, CodeInvalidQuery
				}
				qs = append(qs, q)
			}
			res, err := sp.BatchRecall(ctx, qs)
			if alive = h.ok("batch recall", err, inc); alive {
				for i, rr := range res {
					if code, bad := want[i]; bad || rr.Err != nil {
						if CodeOf(rr.Err) != code {
							h.fail("%v: batch recall query %d: %v, want %v", inc, i, rr.Err, code)
						}
						h.expect(code, 1)
						continue
					}
					h.recalls.Add(1)
					h.checkHits("batch recall", inc, qs[i], rr.Hits)
				}
			}
		case op < 9:
			st := sp.Stats()
			if st.Len < 0 || st.IndexLen < 0 || st.Tiers[Hot] < 0 || st.Dim != stressDim {
				h.fail("%v: stats out of range: len %d index %d tiers %v dim %d", inc, st.Len, st.IndexLen, st.Tiers, st.Dim)
			}
			if sp.Len() < 0 {
				h.fail("%v: Len %d", inc, sp.Len())
			}
		default: // an invalid unary query
			_, err := sp.Recall(ctx, Query{Embedding: randUnit(r, stressDim), K: -1})
			if gone(err) {
				alive = h.ok("recall", err, inc)
			} else {
				h.ok("recall with K -1", err, inc, CodeInvalidQuery)
				if err == nil {
					h.fail("%v: Recall with K = -1 succeeded", inc)
				}
			}
		}
		if !alive {
			inc = nil
		}
	}
}

func stressQuery(r *rand.Rand) Query {
	q := Query{Embedding: randUnit(r, stressDim), K: 1 + r.IntN(12)}
	if r.IntN(3) == 0 { // cues need not be unit length
		for i := range q.Embedding {
			q.Embedding[i] *= 3
		}
	}
	switch r.IntN(9) {
	case 0:
		q.Tags = []string{stressColors[r.IntN(3)]}
	case 1:
		q.Metadata = map[string]string{"k": strconv.Itoa(r.IntN(4))}
		q.MinSimilarity = -1
	case 2:
		q.Exact = true
		q.MinSimilarity = -1
	case 3:
		q.Exact = true
		q.Tags = []string{stressColors[r.IntN(3)]}
		q.Metadata = map[string]string{"k": strconv.Itoa(r.IntN(4))}
	case 4:
		q.MinConfidence = 0.5
		q.MinSimilarity = -1
	case 5:
		q.Breadth = 8 + r.IntN(64)
		q.MinSimilarity = 0.2
	case 6:
		q.SimilarityOnly = true
		q.MinSimilarity = -1
	}
	return q
}

// checkHits verifies hits against the query: count, filters, thresholds, similarity, score
// and order, no ID twice, and that every memory is a whole written version.
func (h *stress) checkHits(where string, inc *incarnation, q Query, hits []Hit) {
	if len(hits) > q.K {
		h.fail("%s on %v: %d hits for K = %d", where, inc, len(hits), q.K)
	}
	cue := normalized(q.Embedding)
	seen := map[string]bool{}
	w := DefaultConfidenceWeight
	if q.SimilarityOnly {
		w = 0
	}
	for i, hit := range hits {
		m := hit.Memory
		h.checkVersion(where, inc, m)
		if len(m.Embedding) != stressDim {
			return
		}
		if seen[m.ID] {
			h.fail("%s on %v: %s returned twice", where, inc, m.ID)
		}
		seen[m.ID] = true
		sim := dot32(cue, m.Embedding)
		score := sim * (1 - w + w*m.Conf())
		switch {
		case math.Abs(float64(sim-hit.Similarity)) > 1e-3:
			h.fail("%s on %v: %s similarity %v, recomputed %v", where, inc, m.ID, hit.Similarity, sim)
		case hit.Similarity < q.MinSimilarity-1e-4:
			h.fail("%s on %v: %s similarity %v below MinSimilarity %v", where, inc, m.ID, hit.Similarity, q.MinSimilarity)
		case m.Conf() < q.MinConfidence:
			h.fail("%s on %v: %s confidence %v below MinConfidence %v", where, inc, m.ID, m.Conf(), q.MinConfidence)
		case math.Abs(float64(score-hit.Score)) > 1e-3:
			h.fail("%s on %v: %s score %v, recomputed %v", where, inc, m.ID, hit.Score, score)
		case i > 0 && hits[i-1].Score < hit.Score:
			h.fail("%s on %v: hits not in score order at %d", where, inc, i)
		}
		for _, tag := range q.Tags {
			if !slices.Contains(m.Tags, tag) {
				h.fail("%s on %v: %s lacks the tag %q it was filtered by (tags %v)", where, inc, m.ID, tag, m.Tags)
			}
		}
		for k, v := range q.Metadata {
			if m.Metadata[k] != v {
				h.fail("%s on %v: %s has %s=%q, filtered by %q", where, inc, m.ID, k, m.Metadata[k], v)
			}
		}
	}
}

func hitIDs(hits []Hit) []string {
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = fmt.Sprintf("%s(%.4f)", h.Memory.ID, h.Similarity)
	}
	return ids
}

// streamer feeds a space through a Stream, re-creating it on each new incarnation.
func (h *stress) streamer(spec stressSpec, r *rand.Rand) {
	for !h.stopped() {
		inc := h.current(spec.name)
		if inc == nil {
			return
		}
		h.streamInto(spec, inc, r)
	}
}

// streamInto sends memories to one incarnation's stream until the wave ends or the stream
// is closed under it (drop, Close), then closes it and checks that every accepted memory
// was acknowledged, in order, with the expected outcome.
func (h *stress) streamInto(spec stressSpec, inc *incarnation, r *rand.Rand) {
	type pending struct {
		m     Memory
		bad   Code
		start uint64
	}
	st := inc.sp.NewStream(StreamOptions{QueueSize: 32, MaxItems: 8, MaxDelay: 2 * time.Millisecond, Mode: spec.mode})
	var mu sync.Mutex
	waiting := map[uint64]pending{}
	acked := make(chan struct{})
	go func() {
		defer close(acked)
		next := uint64(0)
		for a := range st.Acks() {
			end := h.tick()
			mu.Lock()
			p, ok := waiting[a.Seq]
			delete(waiting, a.Seq)
			mu.Unlock()
			switch {
			case !ok:
				h.fail("%v: stream ack for unknown seq %d", inc, a.Seq)
				continue
			case a.Seq != next:
				h.fail("%v: stream ack seq %d, want %d (submission order)", inc, a.Seq, next)
			}
			next = a.Seq + 1
			switch {
			case p.bad != 0:
				if CodeOf(a.Err) != p.bad && !h.allowed(a.Err, inc, feedClosed(inc)...) {
					h.fail("%v: stream ack of an invalid memory: %v, want %v", inc, a.Err, p.bad)
				}
				h.expect(CodeOf(a.Err), 1)
			case a.Err != nil:
				// A stream opened just as a drop closed its space's feeds commits to a
				// dropped space (SPACE_NOT_FOUND); so does one draining at Close (CLOSED).
				h.ok("stream ack", a.Err, inc)
			case a.ID != p.m.ID:
				h.fail("%v: stream ack ID %q, want %q", inc, a.ID, p.m.ID)
			default:
				h.puts.Add(1)
				h.streamed.Add(1)
				h.record(inc, p.start, end, false, []string{p.m.ID}, []string{p.m.Content})
			}
		}
	}()
	seq := uint64(0)
	// IDs cycle over stressStreamN, but a refused Send (BACKPRESSURE, deadline) advances n
	// too: under load a FailFast stream accepts, in every run, memories repeating an ID of
	// the 7 accepted before them, so one batch of the stream may meet an ID twice. That is
	// an upsert, acknowledged as stored (the stream ends the batch before the repeat).
	for n := 0; !h.stopped(); n++ {
		p := pending{m: h.mem(r, fmt.Sprintf("s-%d", n%stressStreamN), "stream")}
		if n%10 == 9 {
			p.m.ID = "sbad-" + strconv.FormatUint(h.tick(), 10)
			p.m.Embedding, p.bad = randUnit(r, stressDim-1), CodeDimensionMismatch
		}
		p.start = h.tick()
		mu.Lock()
		waiting[seq] = p // before Send: the ack may arrive before Send returns
		mu.Unlock()
		sctx, cancel, dl := deadline(r, 4, time.Millisecond) // a blocked Send gives up at its deadline
		got, err := st.Send(sctx, p.m)
		cancel()
		if err != nil {
			mu.Lock()
			delete(waiting, seq) // not accepted: no ack will come
			mu.Unlock()
			var e *Error
			if errors.As(err, &e) && e.Code == CodeBackpressure && spec.mode == FailFast {
				h.expect(CodeBackpressure, 1)
				time.Sleep(min(e.RetryAfter, 5*time.Millisecond))
				continue
			}
			if timedOut(err, dl) {
				h.expect(CodeDeadlineExceeded, 1)
				continue
			}
			h.ok("stream send", err, inc, feedClosed(inc)...)
			break
		}
		if got != seq {
			h.fail("%v: Send returned seq %d, want %d", inc, got, seq)
		}
		seq++
		if n%4 == 3 {
			time.Sleep(time.Millisecond) // leave the other callers some of the CPU
		}
	}
	st.Close()
	<-acked
	mu.Lock()
	if len(waiting) != 0 {
		h.fail("%v: %d memories accepted by the stream were never acknowledged", inc, len(waiting))
	}
	mu.Unlock()
}

// dropper drops and re-creates the droppable spaces while everything else runs on them.
func (h *stress) dropper(r *rand.Rand) {
	ctx := context.Background()
	var droppable []stressSpec
	for _, s := range stressSpecs {
		if s.droppable {
			droppable = append(droppable, s)
		}
	}
	pause := func() bool {
		select {
		case <-h.stop:
			return false
		case <-time.After(time.Duration(40+r.IntN(120)) * time.Millisecond):
			return true
		}
	}
	for pause() {
		spec := droppable[r.IntN(len(droppable))]
		inc := h.latestOf(spec.name)
		if !inc.dropped.Load() {
			inc.dropping.Store(true)
			err := h.s.DropSpace(ctx, spec.name)
			if err != nil {
				// Only Close may stop a drop, and then before it touched the space.
				inc.dropping.Store(false)
				h.ok("drop", err, inc)
				return
			}
			inc.dropped.Store(true)
			h.drops.Add(1)
		}
		sp, err := h.s.Space(ctx, spec.name, spec.opts()...)
		if !h.ok("re-create", err, nil) {
			return
		}
		h.reg(sp)
	}
}

// housekeeper snapshots graphs, syncs, and reads store-wide statistics.
func (h *stress) housekeeper(r *rand.Rand) {
	for !h.stopped() {
		time.Sleep(time.Duration(2+r.IntN(10)) * time.Millisecond)
		spec := stressSpecs[r.IntN(len(stressSpecs))]
		switch r.IntN(4) {
		case 0:
			inc := h.latestOf(spec.name)
			h.ok("snapshot", inc.sp.Snapshot(context.Background()), inc)
		case 1:
			h.ok("sync", h.s.Sync(), nil)
		case 2:
			st := h.s.Stats()
			for _, ss := range st.Spaces {
				if ss.Len < 0 || ss.IndexLen < 0 {
					h.fail("store stats: %s len %d index %d", ss.Name, ss.Len, ss.IndexLen)
				}
			}
		default:
			if s := h.s.Expvar().String(); !strings.HasPrefix(s, "{") {
				h.fail("expvar: %.80s", s)
			}
		}
	}
}
