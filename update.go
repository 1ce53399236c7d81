package engram

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/internal/text"
	bolt "go.etcd.io/bbolt"
)

// Patch changes the mutable fields of a stored memory (embedding and content stay: those
// are a new memory, stored with Remember). Zero fields leave their field unchanged.
type Patch struct {
	// Confidence replaces the stored confidence, in [0,1].
	Confidence *float32
	// SetMetadata entries are added or overwritten; DeleteMetadata keys are removed.
	SetMetadata    map[string]string
	DeleteMetadata []string
	// Tags, when non-nil, replace the tags (an empty non-nil slice removes them all).
	Tags []string
}

// Update is a Patch for the memory with ID.
type Update struct {
	ID    string
	Patch Patch
}

// BatchUpdate applies the patches in one transaction and returns one result per update,
// in input order: the ID when applied, else NOT_FOUND, INVALID_ID, DUPLICATE_ID,
// INVALID_CONFIDENCE or METADATA_TOO_LARGE (limits apply to the patched memory). As with
// BatchRemember, bad items never block good ones, and a whole-batch failure leaves no
// trace and is returned as the error. The vectors, and so the index, are untouched.
func (sp *Space) BatchUpdate(ctx context.Context, ups []Update) (*BatchResult, error) {
	const op = "update"
	start := time.Now()
	res := &BatchResult{Items: make([]ItemResult, len(ups))}
	finish := func(err error) (*BatchResult, error) {
		res.Stored, res.Failed = 0, 0
		for i := range res.Items {
			if err != nil && res.Items[i].Err == nil {
				e := *(err.(*Error))
				e.Item, e.ID = i, ups[i].ID
				res.Items[i].Err = &e
			}
			if res.Items[i].Err == nil {
				res.Stored++
			} else {
				res.Failed++
			}
		}
		res.Elapsed = time.Since(start)
		sp.metrics.observe(OpUpdate, len(ups), res.Elapsed, nil, res.Items)
		return res, err
	}
	done, err := sp.enter(op)
	if err != nil {
		return finish(err)
	}
	defer done()
	switch {
	case len(ups) == 0:
		return res, newErr(CodeEmptyBatch, op, sp.name, "no updates", nil)
	case len(ups) > sp.st.limit.MaxBatch:
		return finish(newErr(CodeBatchTooLarge, op, sp.name, fmt.Sprintf("%d updates exceed the limit %d", len(ups), sp.st.limit.MaxBatch), nil))
	case sp.st.opts.readOnly:
		return finish(newErr(CodeReadOnly, op, sp.name, "", nil))
	}
	fail := func(i int, code Code, msg string) {
		res.Items[i] = ItemResult{Err: &Error{Code: code, Op: op, Space: sp.name, Item: i, ID: ups[i].ID, Msg: msg}}
	}
	seen := make(map[string]int, len(ups))
	valid := make([]int, 0, len(ups))
	for i, u := range ups {
		if err := sp.st.checkID(u.ID); err != nil {
			fail(i, CodeInvalidID, err.Error())
			continue
		}
		if first, dup := seen[u.ID]; dup {
			fail(i, CodeDuplicateID, fmt.Sprintf("same ID as update %d of this batch", first))
			continue
		}
		if c := u.Patch.Confidence; c != nil && !(*c >= 0 && *c <= 1) {
			fail(i, CodeInvalidConfidence, fmt.Sprintf("confidence %v is outside [0,1]", *c))
			continue
		}
		seen[u.ID] = i
		valid = append(valid, i)
	}
	if len(valid) == 0 {
		return finish(nil)
	}
	outcome := make([]ItemResult, len(ups)) // written inside the transaction, which may rerun
	var confSeqs []uint64                   // records whose confidence changed, by update order
	var confs []float32
	req := &writeReq{ctx: ctx}
	req.write = func(tx *bolt.Tx) error {
		confSeqs, confs = confSeqs[:0], confs[:0]
		b, err := sp.bucket(tx)
		if err != nil {
			return err
		}
		for _, i := range valid {
			u := ups[i]
			key := b.keyOf(u.ID)
			if key == nil {
				outcome[i] = ItemResult{Err: &Error{Code: CodeNotFound, Op: op, Space: sp.name, Item: i, ID: u.ID}}
				continue
			}
			view, err := codec.Parse(b.recs.Get(key))
			if err != nil {
				return newErr(CodeCorrupt, op, sp.name, "record of "+u.ID, err)
			}
			rec := view.Record()
			applyPatch(&rec, &u.Patch)
			m := Memory{Metadata: rec.Meta, Tags: rec.Tags}
			if msg := checkMetadata(&m, sp.st.limit); msg != "" {
				outcome[i] = ItemResult{Err: &Error{Code: CodeMetadataTooLarge, Op: op, Space: sp.name, Item: i, ID: u.ID, Msg: msg}}
				continue
			}
			// Only what the patch brings is checked: text stored under older rules stays
			// updatable (a confidence change must not fail on existing metadata).
			if field := text.InvalidField("", u.Patch.SetMetadata, u.Patch.Tags); field != "" {
				outcome[i] = ItemResult{Err: &Error{Code: CodeInvalidText, Op: op, Space: sp.name, Item: i, ID: u.ID, Msg: field + " is not valid UTF-8"}}
				continue
			}
			// Same key: the record stays in place, and the index (keyed by it) is untouched.
			if err := b.recs.Put(append([]byte(nil), key...), codec.Encode(nil, &rec)); err != nil {
				return err
			}
			outcome[i] = ItemResult{ID: u.ID}
			if u.Patch.Confidence != nil {
				seq, _ := codec.KeySeq(key) // key came from keyOf: 8 bytes
				confSeqs, confs = append(confSeqs, seq), append(confs, rec.Confidence)
			}
		}
		return nil
	}
	if err := sp.st.submit(req); err != nil {
		return finish(sp.st.writeErr(ctx, op, sp.name, err))
	}
	if sp.tier != nil { // the hot tier ranks by confidence too: keep its copy current
		sp.tier.setConf(confSeqs, confs)
	}
	for _, i := range valid {
		res.Items[i] = outcome[i]
	}
	return finish(nil)
}

func applyPatch(rec *codec.Record, p *Patch) {
	if p.Confidence != nil {
		rec.Confidence = *p.Confidence
	}
	if len(p.SetMetadata) > 0 || len(p.DeleteMetadata) > 0 {
		meta := make(map[string]string, len(rec.Meta)+len(p.SetMetadata))
		for k, v := range rec.Meta {
			meta[k] = v
		}
		for _, k := range p.DeleteMetadata {
			delete(meta, k)
		}
		for k, v := range p.SetMetadata {
			meta[k] = v
		}
		rec.Meta = meta
	}
	if p.Tags != nil {
		rec.Tags = append([]string(nil), p.Tags...)
	}
}

// UpdateWhere scans the space and, for every memory where fn returns ok, applies the patch
// fn returns — "update confidence scores across the corpus". Updates are committed in
// batches of size (default 1000), one transaction each, so a failure part-way leaves the
// earlier batches applied and is reported per item. The result lists the memories fn
// selected, in scan order.
func (sp *Space) UpdateWhere(ctx context.Context, size int, fn func(m Memory) (Patch, bool)) (*BatchResult, error) {
	if size <= 0 {
		size = 1000
	}
	size = min(size, sp.st.limit.MaxBatch)
	start := time.Now()
	total := &BatchResult{}
	var pending []Update
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		r, err := sp.BatchUpdate(ctx, pending)
		total.Items = append(total.Items, r.Items...)
		total.Stored += r.Stored
		total.Failed += r.Failed
		pending = pending[:0]
		return err
	}
	var firstErr error
	for m, err := range sp.All(ctx) {
		if err != nil {
			firstErr = err
			break
		}
		if p, ok := fn(m); ok {
			pending = append(pending, Update{ID: m.ID, Patch: p})
			if len(pending) == size {
				if err := flush(); err != nil && firstErr == nil {
					firstErr = err
				}
			}
		}
	}
	if err := flush(); err != nil && firstErr == nil {
		firstErr = err
	}
	total.Elapsed = time.Since(start)
	return total, firstErr
}

// SpaceMemory is a memory addressed to a named space, for RememberMixed.
type SpaceMemory struct {
	Space  string
	Memory Memory
}

// RememberMixed stores memories addressed to different spaces: it groups them by space and
// runs one BatchRemember per space, all spaces in parallel (they share commits through
// group commit). Results are in input order. Items for a space that does not exist fail
// with SPACE_NOT_FOUND (spaces are not created implicitly); the error is the first
// whole-batch failure, if any.
func (s *Store) RememberMixed(ctx context.Context, items []SpaceMemory) (*BatchResult, error) {
	start := time.Now()
	res := &BatchResult{Items: make([]ItemResult, len(items))}
	groups := map[string][]int{}
	var order []string
	for i, it := range items {
		if _, ok := groups[it.Space]; !ok {
			order = append(order, it.Space)
		}
		groups[it.Space] = append(groups[it.Space], i)
	}
	type outcome struct {
		idx []int
		r   *BatchResult
		err error
	}
	outs := make([]outcome, len(order))
	var wg sync.WaitGroup
	for gi, name := range order {
		idx := groups[name]
		sp, err := s.LookupSpace(name)
		if err != nil {
			outs[gi] = outcome{idx: idx, err: err}
			continue
		}
		wg.Go(func() {
			mems := make([]Memory, len(idx))
			for j, i := range idx {
				mems[j] = items[i].Memory
			}
			r, err := sp.BatchRemember(ctx, mems)
			outs[gi] = outcome{idx: idx, r: r, err: err}
		})
	}
	wg.Wait()
	var firstErr error
	for _, o := range outs {
		for j, i := range o.idx {
			var it ItemResult
			if o.r != nil {
				it = o.r.Items[j]
			} else {
				it = ItemResult{Err: o.err}
			}
			if e, ok := it.Err.(*Error); ok {
				c := *e
				c.Item = i
				it.Err = &c
			}
			res.Items[i] = it
		}
		if o.err != nil && o.r != nil && firstErr == nil {
			firstErr = o.err
		}
	}
	for _, it := range res.Items {
		if it.Err == nil {
			res.Stored++
		} else {
			res.Failed++
		}
	}
	res.Elapsed = time.Since(start)
	return res, firstErr
}
