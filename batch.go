package engram

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/engram-go/engram/index"
	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/internal/ids"
	"github.com/engram-go/engram/internal/text"
	"github.com/engram-go/engram/tier"
	"github.com/engram-go/engram/vector"
	bolt "go.etcd.io/bbolt"
)

// The write path. BatchRemember (and Remember, Archive, batchers, streams) runs these
// steps, in this file's order:
//
//  1. validate: each memory on its own; a bad one fails alone with its code.
//  2. reserve: the valid ones get record sequence numbers (and generated IDs) up front,
//     so the graph can link them while the commit is in flight.
//  3. encode: one normalization pass over the batch, one buffer of encoded records.
//  4. commit: the records go into one (possibly shared) transaction through group
//     commit (commit.go), fsync'd; a failure leaves no trace.
//  5. apply: in commit order among the space's writes (turnstile.go), the index, the
//     tiers and the metrics take the batch in (placement.go).

// BatchResult is the outcome of BatchRemember: one ItemResult per input memory, in input
// order, with counts and the call's duration.
type BatchResult struct {
	Items   []ItemResult
	Stored  int
	Failed  int
	Elapsed time.Duration
}

// Err joins the errors of the failed items (nil when every item was stored).
func (r *BatchResult) Err() error {
	var errs []error
	for _, it := range r.Items {
		if it.Err != nil {
			errs = append(errs, it.Err)
		}
	}
	return errors.Join(errs...)
}

// Retryable returns the positions of the items that failed with a retryable code: calling
// BatchRemember again with just those items may succeed.
func (r *BatchResult) Retryable() []int {
	var idx []int
	for i, it := range r.Items {
		if it.Err != nil && IsRetryable(it.Err) {
			idx = append(idx, i)
		}
	}
	return idx
}

// tally counts the stored and failed items and sets Elapsed.
func (r *BatchResult) tally(start time.Time) {
	r.Stored, r.Failed = 0, 0
	for _, it := range r.Items {
		if it.Err == nil {
			r.Stored++
		} else {
			r.Failed++
		}
	}
	r.Elapsed = time.Since(start)
}

// failRest fails every item not failed yet with a copy of err naming the item (its
// position, and the ID id returns for it).
func (r *BatchResult) failRest(err *Error, id func(i int) string) {
	for i := range r.Items {
		if r.Items[i].Err == nil {
			e := *err
			e.Item, e.ID = i, id(i)
			r.Items[i] = ItemResult{Err: &e}
		}
	}
}

// withItem returns err with its batch position set to item: a copy, as the error came
// from a batch other items share (a sub-batch of RememberAll, a batcher's flush).
func withItem(err error, item int) error {
	e, ok := err.(*Error)
	if !ok || e.Item == item {
		return err
	}
	c := *e
	c.Item = item
	return &c
}

// Remember stores one memory: a batch of one, with the same validation and codes. It
// returns the memory's ID (generated if m.ID is empty).
func (sp *Space) Remember(ctx context.Context, m Memory) (string, error) {
	res, _ := sp.BatchRemember(ctx, []Memory{m})
	it := res.Items[0]
	return it.ID, it.Err
}

// BatchRemember stores memories in one transaction. Each item is validated on its own: an
// invalid item gets an *Error with its code in the result and never blocks the valid ones.
// Valid embeddings are normalized together (SIMD), every valid item is written in a single
// bbolt transaction (fsync'd unless WithNoSync), and only after that commit are they
// inserted into the space's index, so a memory is never searchable before it is durable.
//
// A failure of the whole batch — store closed, space dropped, ctx done before the commit,
// or a failed commit — fails every item (with CLOSED, SPACE_NOT_FOUND, CANCELED /
// DEADLINE_EXCEEDED or STORAGE respectively) and leaves no trace of the batch on disk or in
// the index; BatchRemember then also returns that error. An empty batch fails with
// EMPTY_BATCH and a batch over Limits.MaxBatch with BATCH_TOO_LARGE. Otherwise the error is
// nil and failures are per item. The result is never nil.
func (sp *Space) BatchRemember(ctx context.Context, mems []Memory) (*BatchResult, error) {
	return sp.remember(ctx, mems, tier.Hot, OpRemember)
}

// Restore stores memories as an export wrote them — a backup's way back in. It is
// BatchRemember (same validation, per-item results, one transaction) except that each
// memory keeps what the store otherwise maintains itself: its Tier (hot, warm or cold; warm
// becomes hot in a space without tiering, which has no warm tier), and its LastAccess and
// AccessCount. Embeddings that are already unit length (within float32 rounding), as every
// exported one is, are stored bit for bit, so export → Restore → export is identical.
func (sp *Space) Restore(ctx context.Context, mems []Memory) (*BatchResult, error) {
	return sp.remember(ctx, mems, placeAsGiven, OpRestore)
}

// placeAsGiven is the place of a Restore: each memory's own tier.
const placeAsGiven tier.Tier = 255

// Archive stores memories straight into the cold tier — historical data that should not
// compete for the hot tier or appear in default recall — with the same validation,
// per-item results and single transaction per call as BatchRemember. Archived memories are
// read by Get and recalled when a query names the cold tier (Query.Tiers). Archive works
// whether or not the space has tiering on.
func (sp *Space) Archive(ctx context.Context, mems []Memory) (*BatchResult, error) {
	return sp.remember(ctx, mems, tier.Cold, OpArchive)
}

// batch is one BatchRemember call on its way through the write path.
type batch struct {
	op    Op
	place tier.Tier  // the tier the memories are written to
	preps []prepared // the valid memories, in input order
	vecs  []float32  // their normalized embeddings, row by row
	dim   int        // the batch's dimension: the space's, or proposed by its first memory
	known bool       // the space had its dimension when the batch was validated
	// restore keeps each memory's own tier and access statistics (Space.Restore) instead
	// of writing every memory to place.
	restore bool

	// Set by the write inside the transaction (which may run more than once: a shared
	// transaction is rerun without a failed member).
	fixDim  bool // this batch fixed the space's dimension
	haveDim int  // a concurrent first batch fixed another dimension: nothing was written

	linked chan struct{} // closed when the hidden graph insert is done; nil when not used
}

// prepared is a validated memory on its way to disk.
type prepared struct {
	item     int // position in the input
	rec      codec.Record
	enc      []byte
	seq      uint64
	oldSeq   uint64 // seq of the memory this one replaces, when replaced
	oldT     tier.Tier
	replaced bool
	fresh    bool         // the ID was generated for this batch, so no stored memory can have it
	implicit bool         // the generated ID carries seq: keyOf finds it without an ids entry
	acc      codec.Access // restored access statistics (Space.Restore); zero otherwise
	oldDoc   postingDoc   // the replaced memory's metadata and tags, for the postings
}

// remember is BatchRemember and Archive: place is the tier the memories are written to.
func (sp *Space) remember(ctx context.Context, mems []Memory, place tier.Tier, op Op) (*BatchResult, error) {
	return sp.rememberEmbedded(ctx, mems, place, op, nil)
}

// preEmbedded is a batch a pipeline embedded before handing it in (a Batcher embeds its
// next batch while the previous one commits): the vectors are in the memories already,
// and fails holds, by position, the items the embedder failed on.
type preEmbedded struct{ fails []*Error }

// rememberEmbedded is remember; pre, when not nil, says the space's embedder already ran
// over mems.
func (sp *Space) rememberEmbedded(ctx context.Context, mems []Memory, place tier.Tier, op Op, pre *preEmbedded) (*BatchResult, error) {
	start := time.Now()
	res := &BatchResult{Items: make([]ItemResult, len(mems))}
	failAll := func(err *Error) (*BatchResult, error) {
		res.failRest(err, func(i int) string { return mems[i].ID })
		res.tally(start)
		return res, err
	}
	done, err := sp.enter(op)
	if err != nil {
		return failAll(err.(*Error))
	}
	defer done()
	defer func() { sp.metrics.observe(op.measured(), len(mems), time.Since(start), nil, res.Items) }()
	switch {
	case len(mems) == 0:
		res.Elapsed = time.Since(start)
		return res, newErr(CodeEmptyBatch, op, sp.name, "no memories", nil)
	case len(mems) > sp.store.limit.MaxBatch:
		return failAll(newErr(CodeBatchTooLarge, op, sp.name, fmt.Sprintf("%d memories exceed the limit %d", len(mems), sp.store.limit.MaxBatch), nil))
	case sp.store.opts.readOnly:
		return failAll(newErr(CodeReadOnly, op, sp.name, "", nil))
	}
	if err := ctx.Err(); err != nil {
		return failAll(ctxErr(op, sp.name, err))
	}
	if place != tier.Cold {
		if err := sp.hotRoom(ctx, op); err != nil {
			return failAll(err)
		}
	}

	var embedErrs []*Error
	if pre != nil {
		embedErrs = pre.fails
	} else {
		mems, embedErrs = sp.embedMemories(ctx, mems, op) // text without an embedding, if the space embeds
	}
	b := sp.validate(mems, res, place, op, embedErrs)
	if len(b.preps) == 0 {
		res.tally(start)
		return res, nil
	}
	sp.reserve(b)
	sp.encode(b, mems)
	sp.linkAhead(b)
	req := &writeReq{ctx: ctx, write: func(tx *bolt.Tx) error { return sp.writeBatch(tx, b) }}
	if err := sp.commitAndApply(req, func() { sp.applyBatch(b) }); err != nil {
		b.unlink(sp)
		e := writeErr(ctx, op, sp.name, err)
		sp.store.log.Warn("batch not stored", "space", sp.name, "items", len(b.preps), "err", e)
		return failAll(e)
	}
	for _, p := range b.preps {
		if b.haveDim != 0 {
			res.Items[p.item] = ItemResult{Err: &Error{Code: CodeDimensionMismatch, Op: op, Space: sp.name, Item: p.item, ID: mems[p.item].ID,
				Msg: fmt.Sprintf("embedding has %d dimensions, the space %d", b.dim, b.haveDim)}}
			continue
		}
		res.Items[p.item] = ItemResult{ID: p.rec.ID, Replaced: p.replaced}
	}
	res.tally(start)
	return res, nil
}

// 1. Validate.

// validate checks every memory, recording failures in res (and those of embedErrs, the
// items the space's embedder failed on), and returns the valid ones as a batch of
// records. Until the space has a dimension the first valid memory proposes it (the commit
// confirms it: see writeBatch).
func (sp *Space) validate(mems []Memory, res *BatchResult, place tier.Tier, op Op, embedErrs []*Error) *batch {
	dim, _, _ := sp.state() // once fixed, a space's dimension never changes
	b := &batch{op: op, place: place, dim: dim, known: dim != 0, restore: place == placeAsGiven, preps: make([]prepared, 0, len(mems))}
	now := time.Now()
	var toWarm func(conf float32, count uint32, last int64) bool // tiers.go
	if t := sp.tiering; t != nil && place == tier.Hot {
		toWarm = t.directToWarm(int(sp.counts.Get(tier.Hot)), len(mems), now)
	}
	seen := make(map[string]int, len(mems))
	for i := range mems {
		m := &mems[i]
		if embedErrs != nil && embedErrs[i] != nil {
			res.Items[i] = ItemResult{Err: embedErrs[i]}
			continue
		}
		if code, msg, cause := sp.checkMemory(m, b.dim, seen, b.restore); code != CodeUnknown {
			res.Items[i] = ItemResult{Err: &Error{Code: code, Op: op, Space: sp.name, Item: i, ID: m.ID, Msg: msg, Err: cause}}
			continue
		}
		if b.dim == 0 {
			b.dim = len(m.Embedding)
		}
		if m.ID != "" {
			seen[m.ID] = i
		}
		created := now
		if !m.CreatedAt.IsZero() {
			created = m.CreatedAt
		}
		p := prepared{item: i, rec: codec.Record{
			Tier:       uint8(place),
			Confidence: m.Conf(),
			Created:    created.UnixNano(),
			ID:         m.ID,
			Content:    m.Content,
			Tags:       m.Tags,
			Meta:       m.Metadata,
			Expires:    sp.expiryOnWrite(m.ExpiresAt, now),
		}}
		if toWarm != nil && toWarm(p.rec.Confidence, 0, created.UnixNano()) {
			p.rec.Tier = uint8(tier.Warm) // it would be demoted at once
		}
		if b.restore {
			t := m.Tier
			if t == tier.Warm && sp.tiering == nil {
				t = tier.Hot // no warm tier to restore into: recallable by default, as warm is
			}
			p.rec.Tier = uint8(t)
			p.acc = codec.Access{Count: m.AccessCount}
			if !m.LastAccess.IsZero() {
				p.acc.Last = m.LastAccess.UnixNano()
			}
		}
		b.preps = append(b.preps, p)
	}
	return b
}

// checkMemory validates one memory against the limits and the space's dimension (0: not fixed),
// returning CodeUnknown when it is valid. seen holds the IDs of the batch's valid memories
// so far, by position.
func (sp *Space) checkMemory(m *Memory, dim int, seen map[string]int, restore bool) (Code, string, error) {
	lim := sp.store.limit
	if restore {
		if !m.Tier.Valid() {
			return CodeInvalidOption, fmt.Sprintf("tier %d is not a tier", m.Tier), nil
		}
		if !m.LastAccess.IsZero() {
			if y := m.LastAccess.Year(); y < 1678 || y > 2261 {
				return CodeInvalidTimestamp, fmt.Sprintf("LastAccess %v is outside the years 1678-2261", m.LastAccess), nil
			}
		}
	}
	if m.ID != "" {
		if err := sp.store.checkNewID(m.ID); err != nil {
			return CodeInvalidID, err.Error(), nil
		}
		if first, dup := seen[m.ID]; dup {
			return CodeDuplicateID, fmt.Sprintf("same ID as item %d of this batch", first), nil
		}
	}
	if len(m.Content) > lim.MaxContentBytes {
		return CodeContentTooLarge, fmt.Sprintf("content of %d bytes exceeds the limit %d", len(m.Content), lim.MaxContentBytes), nil
	}
	if msg := checkMetadata(m, lim); msg != "" {
		return CodeMetadataTooLarge, msg, nil
	}
	// Text is stored as given; bytes that are not text would come back from JSON (export,
	// most callers' APIs) altered or refused, so they are refused here.
	if field := text.InvalidField(m.Content, m.Metadata, m.Tags); field != "" {
		return CodeInvalidText, field + " is not valid UTF-8", nil
	}
	if m.Confidence != nil {
		if c := *m.Confidence; !(c >= 0 && c <= 1) {
			return CodeInvalidConfidence, fmt.Sprintf("confidence %v is outside [0,1]", c), nil
		}
	}
	if !m.CreatedAt.IsZero() {
		if y := m.CreatedAt.Year(); y < 1678 || y > 2261 {
			return CodeInvalidTimestamp, fmt.Sprintf("CreatedAt %v is outside the years 1678-2261", m.CreatedAt), nil
		}
	}
	if !m.ExpiresAt.IsZero() {
		if y := m.ExpiresAt.Year(); y < 1678 || y > 2261 {
			return CodeInvalidTimestamp, fmt.Sprintf("ExpiresAt %v is outside the years 1678-2261", m.ExpiresAt), nil
		}
	}
	switch n := len(m.Embedding); {
	case n == 0 && m.Content != "":
		return CodeInvalidEmbedding, "embedding is empty, and the space has no Embedder (WithEmbedder) to make one from the content", vector.ErrEmpty
	case n == 0:
		return CodeInvalidEmbedding, "embedding is empty", vector.ErrEmpty
	case dim != 0 && n != dim:
		return CodeDimensionMismatch, fmt.Sprintf("embedding has %d dimensions, the space %d", n, dim), nil
	case n > lim.MaxDimension:
		return CodeInvalidEmbedding, fmt.Sprintf("embedding has %d dimensions, the limit is %d", n, lim.MaxDimension), nil
	}
	if err := vector.Validate(m.Embedding); err != nil {
		return CodeInvalidEmbedding, "", err
	}
	return CodeUnknown, "", nil
}

// 2. Reserve.

// reserve hands the batch its records' sequence numbers and generates the missing IDs,
// carrying the numbers (so they sort in batch order). A reserved number is not reused
// while the store is open, even if the batch fails; after a reopen a failed tail's numbers
// may be, but its IDs were never handed out, and a reused number gets new random bits.
func (sp *Space) reserve(b *batch) {
	n := uint64(len(b.preps))
	base := sp.nextSeq.Add(n) - n
	var missing []int
	var seqs []uint64
	for i := range b.preps {
		b.preps[i].seq = base + 1 + uint64(i)
		if b.preps[i].rec.ID == "" {
			missing = append(missing, i)
			seqs = append(seqs, b.preps[i].seq)
		}
	}
	if len(missing) == 0 {
		return
	}
	gen := make([]string, len(missing))
	implicit := seqs[len(seqs)-1] <= ids.MaxSeq
	if implicit {
		sp.store.ids.FillSeq(gen, seqs)
	} else {
		sp.store.ids.Fill(gen) // past 2^40 records: IDs that need map entries
	}
	for j, i := range missing {
		b.preps[i].rec.ID = gen[j]
		b.preps[i].fresh, b.preps[i].implicit = true, implicit
	}
}

// 3. Encode.

// encode normalizes the batch's embeddings in one contiguous buffer and encodes every
// record into one byte buffer.
func (sp *Space) encode(b *batch, mems []Memory) {
	dim := b.dim
	b.vecs = make([]float32, len(b.preps)*dim)
	for r, p := range b.preps {
		copy(b.vecs[r*dim:(r+1)*dim], mems[p.item].Embedding)
	}
	norms := make([]float32, len(b.preps))
	vector.NormalizeBatch(b.vecs, dim, norms, nil) // every row passed Validate
	size := 0
	for r := range b.preps {
		p := &b.preps[r]
		p.rec.Vec = b.vecs[r*dim : (r+1)*dim]
		p.rec.Norm = norms[r]
		size += codec.EncodedLen(&p.rec)
	}
	buf := make([]byte, 0, size)
	for r := range b.preps {
		start := len(buf)
		buf = codec.Encode(buf, &b.preps[r].rec)
		b.preps[r].enc = buf[start:len(buf):len(buf)]
	}
}

// linkAhead starts linking a hot batch into the graph while its commit is in flight: the
// expensive insert overlaps the fsync, and the nodes stay hidden (traversed, never
// returned) until applyBatch publishes them or unlink tombstones them.
func (sp *Space) linkAhead(b *batch) {
	g, ok := sp.graph()
	if !ok || b.place != tier.Hot { // a restore's hot memories are inserted after the commit
		return
	}
	b.linked = make(chan struct{})
	keys, vecs := seqsOf(b.preps), b.vecs
	if slices.ContainsFunc(b.preps, func(p prepared) bool { return p.rec.Tier != uint8(tier.Hot) }) {
		keys, vecs = hotRows(b) // some go to warm directly (directToWarm)
	}
	go func() {
		defer close(b.linked)
		if err := g.AddHidden(keys, vecs); err != nil {
			sp.store.log.Error("graph insert failed", "space", sp.name, "err", err)
		}
	}()
}

// unlink tombstones the hidden nodes of a batch that did not commit.
func (b *batch) unlink(sp *Space) {
	if b.linked == nil {
		return
	}
	<-b.linked
	if g, ok := sp.graph(); ok {
		g.Delete(seqsOf(b.preps)...) // those not linked are not there
	}
}

// hotRows returns the keys and vectors of the batch's memories written to hot.
func hotRows(b *batch) ([]uint64, []float32) {
	var keys []uint64
	var vecs []float32
	for r, p := range b.preps {
		if p.rec.Tier == uint8(tier.Hot) {
			keys = append(keys, p.seq)
			vecs = append(vecs, b.vecs[r*b.dim:(r+1)*b.dim]...)
		}
	}
	return keys, vecs
}

// 4. Commit.

// writeBatch writes the batch's records inside a (possibly shared) transaction. It reads
// the space's dimension from the transaction itself: a concurrent first batch may have
// fixed it meanwhile.
func (sp *Space) writeBatch(tx *bolt.Tx, b *batch) error {
	b.fixDim, b.haveDim = false, 0
	bk, err := sp.buckets(tx)
	if err != nil {
		return err
	}
	if !b.known {
		cfg, err := codec.DecodeConfig(tx.Bucket(bucketSpaces).Get([]byte(sp.name)))
		if err != nil {
			return newErr(CodeCorrupt, b.op, sp.name, "space config", err)
		}
		switch {
		case cfg.Dim == 0:
			b.fixDim = true
			cfg.Dim = b.dim
			if err := putConfig(tx, sp.name, cfg); err != nil {
				return err
			}
		case cfg.Dim != b.dim:
			b.haveDim = cfg.Dim
			return nil
		}
	}
	bk.recs.FillPercent = 1 // keys only ever grow: pack pages full
	for i := range b.preps {
		p := &b.preps[i]
		p.replaced = false
		var old []byte
		if !p.fresh { // a generated ID is new by construction: skip the lookup
			old = bk.keyOf(p.rec.ID)
		}
		if old != nil {
			oldSeq, err := codec.KeySeq(old)
			if err != nil {
				return newErr(CodeCorrupt, b.op, sp.name, "id map of "+p.rec.ID, err)
			}
			oldRec := bk.recs.Get(old)
			p.oldT = bk.tierOf(old, oldRec)
			p.oldSeq, p.replaced = oldSeq, true
			p.oldDoc = postingDoc{seq: oldSeq}
			if v, err := codec.Parse(oldRec); err == nil { // a damaged record has no postings
				p.oldDoc = docOf(oldSeq, &v)
			}
			if err := bk.recs.Delete(old); err != nil {
				return err
			}
			if err := bk.tiers.Delete(old); err != nil {
				return err
			}
		}
		key := codec.SeqKey(p.seq)
		if err := bk.recs.Put(key, p.enc); err != nil {
			return err
		}
		if !p.implicit { // a generated ID that carries p.seq needs no map entry
			if err := bk.ids.Put([]byte(p.rec.ID), key); err != nil {
				return err
			}
		}
		if p.acc != (codec.Access{}) { // restored statistics (an upsert otherwise keeps them)
			if err := bk.access.Put([]byte(p.rec.ID), codec.EncodeAccess(p.acc)); err != nil {
				return err
			}
		}
	}
	// Persist the reservation, so a reopened space continues after it.
	if last := b.preps[len(b.preps)-1].seq; bk.recs.Sequence() < last {
		return bk.recs.SetSequence(last)
	}
	return nil
}

// commitAndApply hands req to group commit and, once its transaction committed, runs
// apply in req's turn: after every earlier commit of the space has applied, before any
// later one does, and leaving the turn even if apply panics.
func (sp *Space) commitAndApply(req *writeReq, apply func()) error {
	req.turn = &sp.turn
	if err := sp.store.commit.submit(req); err != nil {
		return err
	}
	sp.turn.inTurn(req.ticket, apply)
	return nil
}

// 5. Apply.

// applyBatch takes a committed batch into the space's in-memory state, in its turn.
func (sp *Space) applyBatch(b *batch) {
	if b.haveDim != 0 {
		b.unlink(sp)
		return
	}
	if b.fixDim {
		sp.setDim(b.dim)
	}
	if b.linked != nil {
		<-b.linked
	}
	var c tierChange
	for r, p := range b.preps {
		if p.replaced {
			c.drop(p.oldSeq, p.oldT)
			c.postDel = append(c.postDel, p.oldDoc)
			sp.access.move(p.oldSeq, p.seq) // an upsert keeps the recall statistics
		}
		c.postAdd = append(c.postAdd, postingDoc{seq: p.seq, tags: p.rec.Tags, meta: p.rec.Meta})
		if p.rec.Expires != 0 {
			c.expiring = append(c.expiring, expiryEntry{p.rec.Expires, p.seq})
		}
		if p.acc != (codec.Access{}) {
			sp.access.set(p.seq, accessStat{last: p.acc.Last, count: p.acc.Count}) // restored
		}
		vec := b.vecs[r*b.dim : (r+1)*b.dim]
		last := max(p.rec.Created, p.acc.Last)
		switch tier.Tier(p.rec.Tier) {
		case tier.Hot:
			if b.linked != nil {
				vec = nil // linked while the commit ran: publish instead of insert
				c.publish = append(c.publish, p.seq)
			}
			c.enterHot(p.seq, vec, hotStat{last: last, count: p.acc.Count, conf: p.rec.Confidence})
		case tier.Warm:
			c.enterWarm(p.seq, vec, stampOf(last))
		case tier.Cold:
			c.enterCold(p.seq)
			if !b.restore {
				c.archived++
			}
		}
	}
	sp.applyChange(&c)
}

// setDim fixes the space's dimension in memory (the first batch's commit fixed it on
// disk) and creates its indexes.
func (sp *Space) setDim(dim int) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.cfg.Dim = dim
	sp.idx = emptyIndex(sp.cfg, 0)
	if sp.tiering != nil {
		sp.tiering.warm = newWarmIndex(dim)
	}
}

// graph returns the space's index when it is the HNSW graph.
func (sp *Space) graph() (*index.HNSW, bool) {
	_, idx, _ := sp.state()
	g, ok := idx.(*index.HNSW)
	return g, ok
}

func seqsOf(preps []prepared) []uint64 {
	keys := make([]uint64, len(preps))
	for i, p := range preps {
		keys[i] = p.seq
	}
	return keys
}
