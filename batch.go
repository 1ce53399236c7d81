package engram

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/engram-go/engram/index"
	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/internal/ids"
	"github.com/engram-go/engram/internal/text"
	"github.com/engram-go/engram/tier"
	"github.com/engram-go/engram/vector"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/errgroup"
)

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

// Remember stores one memory: a batch of one, with the same validation and codes. It
// returns the memory's ID (generated if m.ID is empty).
func (sp *Space) Remember(ctx context.Context, m Memory) (string, error) {
	res, _ := sp.BatchRemember(ctx, []Memory{m})
	it := res.Items[0]
	return it.ID, it.Err
}

// prepared is a validated item on its way to disk.
type prepared struct {
	item     int // position in the input
	rec      codec.Record
	enc      []byte
	seq      uint64
	oldSeq   uint64 // seq of the memory this one replaces, when replaced
	oldT     tier.Tier
	replaced bool
	fresh    bool // the ID was generated for this batch, so no stored memory can have it
	implicit bool // the generated ID carries seq: keyOf finds it without an ids entry
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
	return sp.remember(ctx, mems, tier.Hot, "remember")
}

// Archive stores memories straight into the cold tier — historical data that should not
// compete for the hot tier or appear in default recall — with the same validation,
// per-item results and single transaction per call as BatchRemember. Archived memories are
// read by Get and recalled when a query names the cold tier (Query.Tiers). Archive works
// whether or not the space has tiering on.
func (sp *Space) Archive(ctx context.Context, mems []Memory) (*BatchResult, error) {
	return sp.remember(ctx, mems, tier.Cold, "archive")
}

// remember is BatchRemember and Archive: place is the tier the memories are written to.
func (sp *Space) remember(ctx context.Context, mems []Memory, place tier.Tier, op string) (*BatchResult, error) {
	start := time.Now()
	res := &BatchResult{Items: make([]ItemResult, len(mems))}
	finish := func() {
		res.Stored, res.Failed = 0, 0
		for _, it := range res.Items {
			if it.Err == nil {
				res.Stored++
			} else {
				res.Failed++
			}
		}
		res.Elapsed = time.Since(start)
	}
	// failAll fails every item not already failed with a copy of err naming the item.
	failAll := func(err *Error) (*BatchResult, error) {
		for i := range res.Items {
			if res.Items[i].Err == nil {
				e := *err
				e.Item, e.ID = i, mems[i].ID
				res.Items[i] = ItemResult{Err: &e}
			}
		}
		finish()
		return res, err
	}
	done, err := sp.enter(op)
	if err != nil {
		return failAll(err.(*Error))
	}
	defer done()
	defer func() { sp.metrics.observe(OpRemember, len(mems), time.Since(start), nil, res.Items) }()
	switch {
	case len(mems) == 0:
		res.Elapsed = time.Since(start)
		return res, newErr(CodeEmptyBatch, op, sp.name, "no memories", nil)
	case len(mems) > sp.st.limit.MaxBatch:
		return failAll(newErr(CodeBatchTooLarge, op, sp.name, fmt.Sprintf("%d memories exceed the limit %d", len(mems), sp.st.limit.MaxBatch), nil))
	case sp.st.opts.readOnly:
		return failAll(newErr(CodeReadOnly, op, sp.name, "", nil))
	}
	if err := ctx.Err(); err != nil {
		return failAll(ctxErr(op, sp.name, err))
	}
	if place == tier.Hot {
		if err := sp.hotRoom(ctx, op); err != nil {
			return failAll(err)
		}
	}

	known, _, _ := sp.state() // once fixed, a space's dimension never changes
	preps, vecs, dim := sp.prepare(mems, res, known, place)
	if len(preps) == 0 {
		finish()
		return res, nil
	}

	// Sequence numbers (the records' keys, and the index's) were reserved by prepare, so
	// the graph can be built while the commit is in flight: the expensive insert overlaps
	// the fsync, and the nodes stay hidden until the commit is known to have succeeded.
	n := uint64(len(preps))
	base := preps[0].seq - 1
	var linked chan struct{} // closed when the hidden insert is done; nil when not used
	if g, ok := sp.graph(); ok && place == tier.Hot {
		linked = make(chan struct{})
		keys := seqsOf(preps)
		go func() {
			defer close(linked)
			if err := g.AddHidden(keys, vecs); err != nil {
				sp.st.log.Error("graph insert failed", "space", sp.name, "err", err)
			}
		}()
	}
	unlink := func() { // the batch did not commit: its hidden nodes become tombstones
		if linked != nil {
			<-linked
			if g, ok := sp.graph(); ok {
				g.Delete(seqsOf(preps)...)
			}
		}
	}

	// The write runs inside a (possibly shared) transaction. It reads the space's dimension
	// from the transaction itself: a concurrent first batch may have fixed it meanwhile.
	var fixDim bool
	var haveDim int
	req := &writeReq{ctx: ctx, space: sp}
	req.write = func(tx *bolt.Tx) error {
		fixDim, haveDim = false, 0
		b, err := sp.bucket(tx)
		if err != nil {
			return err
		}
		if known == 0 {
			// Validated before the space had a dimension: fix it now, unless a concurrent
			// first batch already did (then these items do not match it).
			cfg, err := codec.DecodeConfig(tx.Bucket(bucketSpaces).Get([]byte(sp.name)))
			if err != nil {
				return newErr(CodeCorrupt, op, sp.name, "space config", err)
			}
			switch {
			case cfg.Dim == 0:
				fixDim = true
				cfg.Dim = dim
				if err := putConfig(tx, sp.name, cfg); err != nil {
					return err
				}
			case cfg.Dim != dim:
				haveDim = cfg.Dim
				return nil
			}
		}
		b.recs.FillPercent = 1 // keys only ever grow: pack pages full
		for i := range preps {
			p := &preps[i]
			p.replaced = false
			idKey := []byte(p.rec.ID)
			var old []byte
			if !p.fresh { // a generated ID is new by construction: skip the lookup
				old = b.keyOf(p.rec.ID)
			}
			if old != nil {
				oldSeq, err := codec.KeySeq(old)
				if err != nil {
					return newErr(CodeCorrupt, op, sp.name, "id map of "+p.rec.ID, err)
				}
				p.oldT = b.tierOf(old, b.recs.Get(old))
				p.oldSeq, p.replaced = oldSeq, true
				if err := b.recs.Delete(old); err != nil {
					return err
				}
				if err := b.tiers.Delete(old); err != nil {
					return err
				}
			}
			key := codec.SeqKey(p.seq)
			if err := b.recs.Put(key, p.enc); err != nil {
				return err
			}
			if !p.implicit { // a generated ID that carries p.seq needs no map entry
				if err := b.ids.Put(idKey, key); err != nil {
					return err
				}
			}
		}
		// Persist the reservation, so a reopened space continues after it.
		if b.recs.Sequence() < base+n {
			return b.recs.SetSequence(base + n)
		}
		return nil
	}
	if err := sp.st.submit(req); err != nil {
		unlink()
		e := sp.st.writeErr(ctx, op, sp.name, err)
		sp.st.log.Warn("batch not stored", "space", sp.name, "items", len(preps), "err", e)
		return failAll(e)
	}
	if haveDim != 0 {
		unlink()
	}

	// Durable. Touch the index in commit order; the next commit proceeds meanwhile.
	sp.turn.enter(req.ticket)
	if haveDim == 0 {
		if fixDim {
			sp.mu.Lock()
			sp.cfg.Dim = dim
			sp.idx = emptyIndex(sp.cfg, 0)
			if sp.tier != nil {
				sp.tier.warm = index.NewSQ8(dim)
			}
			sp.mu.Unlock()
		}
		if linked != nil {
			<-linked
		}
		sp.apply(preps, vecs, dim, linked != nil)
	}
	sp.turn.leave(req.ticket)

	for _, p := range preps {
		if haveDim != 0 {
			res.Items[p.item] = ItemResult{Err: &Error{Code: CodeDimensionMismatch, Op: op, Space: sp.name, Item: p.item, ID: mems[p.item].ID,
				Msg: fmt.Sprintf("embedding has %d dimensions, the space %d", dim, haveDim)}}
			continue
		}
		res.Items[p.item] = ItemResult{ID: p.rec.ID, Replaced: p.replaced}
	}
	finish()
	return res, nil
}

// apply inserts a committed batch into the index and tier counts. Called in the batch's
// turn (sp.turn).
//
// With hidden, the batch's vectors are already linked into the graph (AddHidden while the
// commit ran) and only need publishing.
func (sp *Space) apply(preps []prepared, vecs []float32, dim int, hidden bool) {
	_, idx, _ := sp.state()
	keys := make([]uint64, 0, len(preps))
	var gone, goneWarm, goneSeqs []uint64
	allHot := true
	for _, p := range preps {
		t := tier.Tier(p.rec.Tier)
		sp.tiers.Add(t, 1)
		if p.replaced {
			sp.tiers.Add(p.oldT, -1)
			goneSeqs = append(goneSeqs, p.oldSeq)
			switch p.oldT {
			case tier.Hot:
				gone = append(gone, p.oldSeq)
			case tier.Warm:
				goneWarm = append(goneWarm, p.oldSeq)
			}
		}
		if t == tier.Hot {
			keys = append(keys, p.seq)
			if sp.tier != nil {
				sp.tier.noteHot(p.seq, hotStat{last: p.rec.Created, conf: p.rec.Confidence})
			}
		} else {
			allHot = false
			if sp.tier != nil && t == tier.Cold {
				sp.tier.mu.Lock()
				sp.tier.archived++
				sp.tier.mu.Unlock()
			}
		}
	}
	if sp.tier != nil {
		sp.tier.forget(goneSeqs...)
		if len(goneWarm) > 0 && sp.tier.warm != nil {
			sp.tier.warm.Delete(goneWarm...)
		}
		if sp.tier.policy.High() <= int(sp.tiers.Get(tier.Hot)) {
			sp.st.wakeMigrator()
		}
	}
	if g, ok := idx.(*index.HNSW); ok && hidden {
		g.Publish(keys...)
		if len(gone) > 0 {
			idx.Delete(gone...)
		}
		return
	}
	if !allHot { // compact the hot rows
		hot := make([]float32, 0, len(keys)*dim)
		for i, p := range preps {
			if tier.Tier(p.rec.Tier) == tier.Hot {
				hot = append(hot, vecs[i*dim:(i+1)*dim]...)
			}
		}
		vecs = hot
	}
	if len(keys) > 0 {
		if err := idx.Add(keys, vecs); err != nil {
			// Validation makes this unreachable; if it happens the records are durable and a
			// reopen rebuilds the index from them.
			sp.st.log.Error("index insert failed after commit", "space", sp.name, "err", err)
		}
	}
	if len(gone) > 0 {
		idx.Delete(gone...)
	}
	if flat, ok := idx.(*index.Flat); ok {
		if cfg := sp.config(); cfg.Index == codec.IndexAuto && useHNSW(cfg, flat.Len()) {
			sp.promoteToHNSW(flat, cfg)
		}
	}
}

// graph returns the space's index when it is the HNSW graph.
func (sp *Space) graph() (*index.HNSW, bool) {
	_, idx, _ := sp.state()
	g, ok := idx.(*index.HNSW)
	return g, ok
}

func allHot(preps []prepared) bool {
	for _, p := range preps {
		if tier.Tier(p.rec.Tier) != tier.Hot {
			return false
		}
	}
	return true
}

func seqsOf(preps []prepared) []uint64 {
	keys := make([]uint64, len(preps))
	for i, p := range preps {
		keys[i] = p.seq
	}
	return keys
}

// promoteToHNSW moves a space that outgrew the exact scan onto the graph: the graph is
// built from the flat index's vectors (in parallel) while recalls keep using the flat one,
// then swapped in. Called in a write's turn, so no other write can slip between the two.
func (sp *Space) promoteToHNSW(flat *index.Flat, cfg codec.Config) {
	start := time.Now()
	keys, vecs := flat.Export()
	g := index.NewHNSW(flat.Dim(), hnswConfig(cfg))
	if err := g.Add(keys, vecs); err != nil {
		sp.st.log.Error("building the graph index failed; staying on the exact index", "space", sp.name, "err", err)
		return
	}
	sp.mu.Lock()
	sp.idx = g
	sp.mu.Unlock()
	sp.st.log.Info("space switched to the HNSW index", "space", sp.name, "memories", len(keys), "elapsed", time.Since(start))
}

// prepare validates every memory, recording failures in res, and returns the valid ones
// encoded, with their normalized embeddings packed row by row in vecs. dim is the space's
// dimension, or 0 when not fixed yet: then the first valid memory proposes it, and the
// returned dimension is that proposal.
func (sp *Space) prepare(mems []Memory, res *BatchResult, dim int, place tier.Tier) ([]prepared, []float32, int) {
	const op = "remember"
	lim := sp.st.limit
	now := time.Now()
	seen := make(map[string]int, len(mems))
	preps := make([]prepared, 0, len(mems))
	fail := func(i int, code Code, msg string, cause error) {
		res.Items[i] = ItemResult{Err: &Error{Code: code, Op: op, Space: sp.name, Item: i, ID: mems[i].ID, Msg: msg, Err: cause}}
	}
	for i := range mems {
		m := &mems[i]
		if m.ID != "" {
			if err := sp.st.checkNewID(m.ID); err != nil {
				fail(i, CodeInvalidID, err.Error(), nil)
				continue
			}
			if first, dup := seen[m.ID]; dup {
				fail(i, CodeDuplicateID, fmt.Sprintf("same ID as item %d of this batch", first), nil)
				continue
			}
		}
		if len(m.Content) > lim.MaxContentBytes {
			fail(i, CodeContentTooLarge, fmt.Sprintf("content of %d bytes exceeds the limit %d", len(m.Content), lim.MaxContentBytes), nil)
			continue
		}
		if msg := checkMetadata(m, lim); msg != "" {
			fail(i, CodeMetadataTooLarge, msg, nil)
			continue
		}
		// Text is stored as given; bytes that are not text would come back from JSON
		// (export, most callers' APIs) altered or refused, so they are refused here.
		if field := text.InvalidField(m.Content, m.Metadata, m.Tags); field != "" {
			fail(i, CodeInvalidText, field+" is not valid UTF-8", nil)
			continue
		}
		if m.Confidence != nil {
			if c := *m.Confidence; !(c >= 0 && c <= 1) {
				fail(i, CodeInvalidConfidence, fmt.Sprintf("confidence %v is outside [0,1]", c), nil)
				continue
			}
		}
		created := now
		if !m.CreatedAt.IsZero() {
			if y := m.CreatedAt.Year(); y < 1678 || y > 2261 {
				fail(i, CodeInvalidTimestamp, fmt.Sprintf("CreatedAt %v is outside the years 1678-2261", m.CreatedAt), nil)
				continue
			}
			created = m.CreatedAt
		}
		switch n := len(m.Embedding); {
		case n == 0:
			fail(i, CodeInvalidEmbedding, "embedding is empty", vector.ErrEmpty)
			continue
		case dim != 0 && n != dim:
			fail(i, CodeDimensionMismatch, fmt.Sprintf("embedding has %d dimensions, the space %d", n, dim), nil)
			continue
		case n > lim.MaxDimension:
			fail(i, CodeInvalidEmbedding, fmt.Sprintf("embedding has %d dimensions, the limit is %d", n, lim.MaxDimension), nil)
			continue
		}
		if err := vector.Validate(m.Embedding); err != nil {
			fail(i, CodeInvalidEmbedding, "", err)
			continue
		}
		if dim == 0 {
			dim = len(m.Embedding)
		}
		conf := DefaultConfidence
		if m.Confidence != nil {
			conf = *m.Confidence
		}
		if m.ID != "" {
			seen[m.ID] = i
		}
		preps = append(preps, prepared{item: i, rec: codec.Record{
			Tier:       uint8(place),
			Confidence: conf,
			Created:    created.UnixNano(),
			ID:         m.ID,
			Content:    m.Content,
			Tags:       m.Tags,
			Meta:       m.Metadata,
		}})
	}
	if len(preps) == 0 {
		return nil, nil, dim
	}

	// Reserve the records' sequence numbers (not reused while the store is open, even if this
	// batch fails; after a reopen a failed tail's numbers may be, but its IDs were never
	// handed out, and a reused number gets new random bits), then
	// generate the missing IDs in one go, carrying them (so they sort in batch order).
	n := uint64(len(preps))
	base := sp.nextSeq.Add(n) - n
	var missing []int
	var seqs []uint64
	for i := range preps {
		preps[i].seq = base + 1 + uint64(i)
		if preps[i].rec.ID == "" {
			missing = append(missing, i)
			seqs = append(seqs, preps[i].seq)
		}
	}
	if len(missing) > 0 {
		gen := make([]string, len(missing))
		implicit := seqs[len(seqs)-1] <= ids.MaxSeq
		if implicit {
			sp.st.ids.FillSeq(gen, seqs)
		} else {
			sp.st.ids.Fill(gen) // past 2^40 records: IDs that need map entries
		}
		for j, i := range missing {
			preps[i].rec.ID = gen[j]
			preps[i].fresh, preps[i].implicit = true, implicit
		}
	}

	// One contiguous buffer, one normalization pass over the whole batch.
	vecs := make([]float32, len(preps)*dim)
	for r, p := range preps {
		copy(vecs[r*dim:(r+1)*dim], mems[p.item].Embedding)
	}
	norms := make([]float32, len(preps))
	vector.NormalizeBatch(vecs, dim, norms, nil) // every row passed Validate

	size := 0
	for r := range preps {
		p := &preps[r]
		p.rec.Vec = vecs[r*dim : (r+1)*dim]
		p.rec.Norm = norms[r]
		size += codec.EncodedLen(&p.rec)
	}
	buf := make([]byte, 0, size)
	for r := range preps {
		start := len(buf)
		buf = codec.Encode(buf, &preps[r].rec)
		preps[r].enc = buf[start:len(buf):len(buf)]
	}
	return preps, vecs, dim
}

// checkMetadata returns why m's metadata and tags exceed the limits, or "".
func checkMetadata(m *Memory, lim Limits) string {
	items := len(m.Metadata) + len(m.Tags)
	if items > lim.MaxMetadataItems {
		return fmt.Sprintf("%d metadata entries and tags exceed the limit %d", items, lim.MaxMetadataItems)
	}
	size := 0
	for k, v := range m.Metadata {
		size += len(k) + len(v)
	}
	for _, t := range m.Tags {
		size += len(t)
	}
	if size > lim.MaxMetadataBytes {
		return fmt.Sprintf("metadata and tags of %d bytes exceed the limit %d", size, lim.MaxMetadataBytes)
	}
	return ""
}

// checkID validates a caller-supplied memory ID.
func (s *Store) checkID(id string) error { return s.validID(id, false) }

// checkNewID is checkID for an ID about to be stored, which must also be free of C1
// control characters (invisible in logs, unsafe in terminals). Lookups use checkID alone,
// so memories stored before this rule stay reachable by their IDs.
func (s *Store) checkNewID(id string) error { return s.validID(id, true) }

func (s *Store) validID(id string, noC1 bool) error {
	if id == "" {
		return errors.New("empty ID")
	}
	if len(id) > s.limit.MaxIDBytes {
		return fmt.Errorf("ID of %d bytes exceeds the limit %d", len(id), s.limit.MaxIDBytes)
	}
	if !utf8.ValidString(id) {
		return errors.New("ID is not valid UTF-8")
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f || (noC1 && unicode.IsControl(r)) {
			return fmt.Errorf("ID contains control character %U", r)
		}
	}
	return nil
}

// RecallResult is the outcome of one query of BatchRecall.
type RecallResult struct {
	Hits []Hit
	Err  error
}

// BatchRecall runs the queries in parallel (at most GOMAXPROCS at a time) and returns one
// result per query, in input order; a failed query does not affect the others. The error
// is non-nil only when no query could run (store closed, space dropped, ctx done, or more
// than Limits.MaxBatch queries); the results then all carry it.
func (sp *Space) BatchRecall(ctx context.Context, qs []Query) ([]RecallResult, error) {
	const op = "recall"
	out := make([]RecallResult, len(qs))
	failAll := func(err error) ([]RecallResult, error) {
		for i := range out {
			out[i].Err = err
		}
		return out, err
	}
	done, err := sp.enter(op)
	if err != nil {
		return failAll(err)
	}
	defer done()
	if len(qs) > sp.st.limit.MaxBatch {
		return failAll(newErr(CodeBatchTooLarge, op, sp.name, fmt.Sprintf("%d queries exceed the limit %d", len(qs), sp.st.limit.MaxBatch), nil))
	}
	if err := ctx.Err(); err != nil {
		return failAll(ctxErr(op, sp.name, err))
	}
	start := time.Now()
	var g errgroup.Group
	g.SetLimit(maxParallel())
	for i := range qs {
		g.Go(func() error {
			out[i].Hits, out[i].Err = sp.recall(ctx, &qs[i])
			return nil
		})
	}
	_ = g.Wait() // per-query errors are in out
	failed := make([]ItemResult, len(out))
	for i := range out {
		failed[i].Err = out[i].Err
	}
	sp.metrics.observe(OpRecall, len(qs), time.Since(start), nil, failed)
	return out, nil
}
