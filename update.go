package engram

import (
	"context"
	"fmt"
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
	// ExpiresAt, when non-nil, replaces the memory's expiry; a zero time removes it (the
	// memory then never expires, whatever the space's TTL).
	ExpiresAt *time.Time
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
	const op = OpUpdate
	start := time.Now()
	res := &BatchResult{Items: make([]ItemResult, len(ups))}
	finish := func(err *Error) (*BatchResult, error) {
		if err != nil {
			res.failRest(err, func(i int) string { return ups[i].ID })
		}
		res.tally(start)
		sp.metrics.observe(op, len(ups), res.Elapsed, nil, res.Items)
		if err != nil {
			return res, err
		}
		return res, nil
	}
	done, err := sp.enter(op)
	if err != nil {
		return finish(err.(*Error))
	}
	defer done()
	switch {
	case len(ups) == 0:
		return res, newErr(CodeEmptyBatch, op, sp.name, "no updates", nil)
	case len(ups) > sp.store.limit.MaxBatch:
		return finish(newErr(CodeBatchTooLarge, op, sp.name, fmt.Sprintf("%d updates exceed the limit %d", len(ups), sp.store.limit.MaxBatch), nil))
	case sp.store.opts.readOnly:
		return finish(newErr(CodeReadOnly, op, sp.name, "", nil))
	}
	valid := sp.validateUpdates(ups, res)
	if len(valid) == 0 {
		return finish(nil)
	}
	w := &updateWrite{sp: sp, ups: ups, valid: valid, outcome: make([]ItemResult, len(ups))}
	req := &writeReq{ctx: ctx, write: w.write}
	apply := func() {
		if sp.tiering != nil { // the hot tier ranks by confidence too: keep its copy current
			sp.tiering.setConf(w.confSeqs, w.confs)
		}
		sp.postings.apply(w.postDel, w.postAdd) // patched metadata and tags
		sp.expiry.add(w.expiring)
	}
	if err := sp.commitAndApply(req, apply); err != nil {
		return finish(writeErr(ctx, op, sp.name, err))
	}
	for _, i := range valid {
		res.Items[i] = w.outcome[i]
	}
	return finish(nil)
}

// validateUpdates checks each update on its own, recording failures in res, and returns
// the positions of the valid ones.
func (sp *Space) validateUpdates(ups []Update, res *BatchResult) []int {
	fail := func(i int, code Code, msg string) {
		res.Items[i] = ItemResult{Err: &Error{Code: code, Op: OpUpdate, Space: sp.name, Item: i, ID: ups[i].ID, Msg: msg}}
	}
	seen := make(map[string]int, len(ups))
	valid := make([]int, 0, len(ups))
	for i, u := range ups {
		if err := sp.store.checkID(u.ID); err != nil {
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
		if e := u.Patch.ExpiresAt; e != nil && !e.IsZero() && (e.Year() < 1678 || e.Year() > 2261) {
			fail(i, CodeInvalidTimestamp, fmt.Sprintf("ExpiresAt %v is outside the years 1678-2261", *e))
			continue
		}
		seen[u.ID] = i
		valid = append(valid, i)
	}
	return valid
}

// updateWrite is the transaction side of a BatchUpdate. Its fields are rewritten by each
// run of write (a shared transaction may rerun).
type updateWrite struct {
	sp      *Space
	ups     []Update
	valid   []int
	outcome []ItemResult // per update, for the valid ones
	// confSeqs and confs are the records whose confidence changed, for the hot tier's
	// ranking.
	confSeqs []uint64
	confs    []float32
	// postDel and postAdd are the old and new terms of the records whose metadata or
	// tags changed; expiring the new expiries.
	postDel, postAdd []postingDoc
	expiring         []expiryEntry
}

func (w *updateWrite) write(tx *bolt.Tx) error {
	const op = OpUpdate
	sp := w.sp
	w.confSeqs, w.confs = w.confSeqs[:0], w.confs[:0]
	w.postDel, w.postAdd, w.expiring = w.postDel[:0], w.postAdd[:0], w.expiring[:0]
	now := time.Now().UnixNano()
	b, err := sp.buckets(tx)
	if err != nil {
		return err
	}
	fail := func(i int, code Code, msg string) {
		w.outcome[i] = ItemResult{Err: &Error{Code: code, Op: op, Space: sp.name, Item: i, ID: w.ups[i].ID, Msg: msg}}
	}
	for _, i := range w.valid {
		u := w.ups[i]
		key := b.keyOf(u.ID)
		if key == nil {
			fail(i, CodeNotFound, "")
			continue
		}
		view, err := codec.Parse(b.recs.Get(key))
		if err != nil {
			return newErr(CodeCorrupt, op, sp.name, "record of "+u.ID, err)
		}
		seq, _ := codec.KeySeq(key) // key came from keyOf: 8 bytes
		if sp.expired(&view, seq, now) {
			fail(i, CodeNotFound, "the memory has expired")
			continue
		}
		rec := view.Record()
		applyPatch(&rec, &u.Patch)
		m := Memory{Metadata: rec.Meta, Tags: rec.Tags}
		if msg := checkMetadata(&m, sp.store.limit); msg != "" {
			fail(i, CodeMetadataTooLarge, msg)
			continue
		}
		// Only what the patch brings is checked: text stored under older rules stays
		// updatable (a confidence change must not fail on existing metadata).
		if field := text.InvalidField("", u.Patch.SetMetadata, u.Patch.Tags); field != "" {
			fail(i, CodeInvalidText, field+" is not valid UTF-8")
			continue
		}
		// The old terms, copied before the Put below rewrites the record.
		var oldDoc postingDoc
		terms := len(u.Patch.SetMetadata) > 0 || len(u.Patch.DeleteMetadata) > 0 || u.Patch.Tags != nil
		if terms {
			oldDoc = docOf(seq, &view)
		}
		// Same key: the record stays in place, and the index (keyed by it) is untouched.
		if err := b.recs.Put(append([]byte(nil), key...), codec.Encode(nil, &rec)); err != nil {
			return err
		}
		w.outcome[i] = ItemResult{ID: u.ID}
		if u.Patch.Confidence != nil {
			w.confSeqs, w.confs = append(w.confSeqs, seq), append(w.confs, rec.Confidence)
		}
		if terms {
			w.postDel = append(w.postDel, oldDoc)
			w.postAdd = append(w.postAdd, postingDoc{seq: seq, tags: rec.Tags, meta: rec.Meta})
		}
		if rec.Expires != 0 && rec.Expires != view.Expires {
			w.expiring = append(w.expiring, expiryEntry{rec.Expires, seq})
		}
	}
	return nil
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
	if p.ExpiresAt != nil {
		switch ns := p.ExpiresAt.UnixNano(); {
		case p.ExpiresAt.IsZero():
			rec.Expires = 0
		case ns == 0:
			rec.Expires = 1 // 0 means never: see expiryOnWrite
		default:
			rec.Expires = ns
		}
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
	size = min(size, sp.store.limit.MaxBatch)
	start := time.Now()
	total := &BatchResult{}
	var firstErr error
	pick := func(m seqMemory) (Update, bool) {
		p, ok := fn(m.Memory)
		return Update{ID: m.ID, Patch: p}, ok
	}
	err := chunked(sp.scanSeqs(ctx), size, pick, func(batch []Update) error {
		r, err := sp.BatchUpdate(ctx, batch)
		for _, it := range r.Items {
			if it.Err != nil {
				it.Err = withItem(it.Err, len(total.Items)) // position in the whole result
			}
			total.Items = append(total.Items, it)
		}
		if err != nil && firstErr == nil {
			firstErr = err // reported per item; later batches still run
		}
		return nil
	})
	if err != nil && firstErr == nil {
		firstErr = err
	}
	total.tally(start)
	return total, firstErr
}
