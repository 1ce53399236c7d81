package engram

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/engram-go/engram/internal/metrics"
	"github.com/engram-go/engram/tier"
	"golang.org/x/sync/errgroup"
)

// Batching helpers. Batch operations trade latency for throughput: RememberAll splits a
// large input into fixed-size batches; a Batcher turns a flow of single memories into
// batches by size or by time; Adaptive sizes batches from observed latency. All of them
// call BatchRemember, so validation, per-item codes and durability are the same.

// RememberAll stores any number of memories in batches of size (default 1000), running up
// to inFlight batches at once (default 1, or 2 in a space with an Embedder, so that one
// batch's texts are embedded while the batch before it commits; several in flight share
// commits through group commit). The result has one item per memory, in input order; the error is non-nil only
// when a batch failed as a whole (its items carry the code too) or ctx ended.
func (sp *Space) RememberAll(ctx context.Context, mems []Memory, size, inFlight int) (*BatchResult, error) {
	if size <= 0 {
		size = 1000
	}
	size = min(size, sp.store.limit.MaxBatch)
	if inFlight <= 0 {
		inFlight = 1
		if sp.embedder.Load() != nil {
			inFlight = 2 // one batch embeds while the one before it commits
		}
	}
	start := time.Now()
	res := &BatchResult{Items: make([]ItemResult, len(mems))}
	if len(mems) == 0 {
		return res, newErr(CodeEmptyBatch, OpRemember, sp.name, "no memories", nil)
	}
	var g errgroup.Group
	g.SetLimit(inFlight)
	var mu sync.Mutex
	var firstErr error
	for off := 0; off < len(mems); off += size {
		end := min(off+size, len(mems))
		g.Go(func() error {
			r, err := sp.BatchRemember(ctx, mems[off:end])
			for i, it := range r.Items {
				if it.Err != nil {
					it.Err = withItem(it.Err, off+i) // position in the whole input
				}
				res.Items[off+i] = it
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	res.tally(start)
	return res, firstErr
}

// Adaptive chooses batch sizes from observed latency, the seed's rule by default: after
// each batch, the p99 of the last Window batch latencies is compared with the targets;
// above High the size halves, below Low it doubles, always within [Min, Max].
type Adaptive struct {
	Low, High time.Duration // default 50 ms and 200 ms
	Min, Max  int           // default 10 and 1000
	Initial   int           // default 100
	Window    int           // latencies considered, default 8
}

func (a Adaptive) withDefaults() Adaptive {
	if a.Low <= 0 {
		a.Low = 50 * time.Millisecond
	}
	if a.High <= 0 {
		a.High = 200 * time.Millisecond
	}
	if a.Min <= 0 {
		a.Min = 10
	}
	if a.Max < a.Min {
		a.Max = max(a.Min, 1000)
	}
	if a.Initial <= 0 {
		a.Initial = 100
	}
	a.Initial = min(max(a.Initial, a.Min), a.Max)
	if a.Window <= 0 {
		a.Window = 8
	}
	return a
}

// sizer applies an Adaptive policy. Not safe for concurrent use.
type sizer struct {
	cfg  Adaptive
	size int
	win  *metrics.Window
}

func newSizer(a Adaptive) *sizer {
	a = a.withDefaults()
	return &sizer{cfg: a, size: a.Initial, win: metrics.NewWindow(a.Window)}
}

// observe records one batch's latency and returns the next batch size. After a change
// the window restarts, so each decision is based on batches of the current size.
func (z *sizer) observe(d time.Duration) int {
	z.win.Add(d)
	if z.win.Len() < min(z.cfg.Window, 3) {
		return z.size
	}
	p99 := z.win.Quantile(0.99)
	next := z.size
	switch {
	case p99 > z.cfg.High:
		next = max(z.size/2, z.cfg.Min)
	case p99 < z.cfg.Low:
		next = min(z.size*2, z.cfg.Max)
	}
	if next != z.size {
		z.size = next
		z.win.Reset()
	}
	return z.size
}

// BatcherOptions configure a Batcher.
type BatcherOptions struct {
	// MaxItems flushes a batch when it holds this many memories (default 1000). With
	// Adaptive set, it is the adaptive size instead, changing as latency is observed.
	MaxItems int
	// MaxDelay flushes a batch this long after its first memory arrived (default 10 ms).
	MaxDelay time.Duration
	// Adaptive, when non-nil, sizes batches from their latency.
	Adaptive *Adaptive
	// QueueSize bounds the memories waiting (default 4 × MaxItems, at least 1000); further
	// Remember calls wait for room.
	QueueSize int
}

// Batcher collects memories remembered one at a time into batches, flushed when a batch is
// full or MaxDelay after its first memory, whichever comes first. Each caller gets its own
// memory's result. A batch ends before a memory repeating one of its IDs, so callers
// remembering the same ID get no DUPLICATE_ID: each is an upsert, in queue order. It is
// safe for concurrent use; Close drains it.
type Batcher struct {
	sp   *Space
	opts BatcherOptions

	slots chan struct{} // one token per queued memory: the queue bound, waited on with ctx

	mu      sync.Mutex
	pending []*pendingItem
	first   time.Time     // arrival of the oldest pending item
	kick    chan struct{} // wakes the flusher (capacity 1)
	closed  bool
	size    int // current flush size
	sizer   *sizer

	flushReq chan chan struct{}
	done     chan struct{}

	// With an embedder, a batch's commit runs in the background while the flusher embeds
	// the next batch (embedding is usually the slower stage: an HTTP round trip, or a CPU
	// model); one commit at a time, so batches still commit in order.
	committing chan struct{} // capacity 1
	commits    sync.WaitGroup
}

type pendingItem struct {
	m   Memory
	res chan ItemResult // capacity 1
}

// NewBatcher starts a batcher feeding the space.
func (sp *Space) NewBatcher(opts BatcherOptions) *Batcher {
	if opts.MaxItems <= 0 {
		opts.MaxItems = 1000
	}
	opts.MaxItems = min(opts.MaxItems, sp.store.limit.MaxBatch)
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 10 * time.Millisecond
	}
	b := &Batcher{sp: sp, opts: opts, size: opts.MaxItems, kick: make(chan struct{}, 1),
		flushReq: make(chan chan struct{}), done: make(chan struct{}), committing: make(chan struct{}, 1)}
	if opts.Adaptive != nil {
		b.sizer = newSizer(*opts.Adaptive)
		b.size = b.sizer.size
		b.opts.MaxItems = b.sizer.cfg.Max
	}
	if b.opts.QueueSize <= 0 {
		b.opts.QueueSize = max(4*b.opts.MaxItems, 1000)
	}
	b.slots = make(chan struct{}, b.opts.QueueSize)
	sp.metrics.queueCap.Add(int64(b.opts.QueueSize))
	sp.register(b)
	if b.sizer != nil {
		sp.metrics.batchSize.Store(int64(b.size))
	}
	go b.run()
	return b
}

// Remember queues m and waits for the batch holding it to be committed, returning the
// memory's ID or its own error (the same codes as BatchRemember). If ctx ends while m is
// still queued, m is withdrawn and the ctx error returned; once its batch is committing,
// Remember waits for the outcome.
func (b *Batcher) Remember(ctx context.Context, m Memory) (string, error) {
	it, err := b.enqueue(ctx, m)
	if err != nil {
		return "", err
	}
	select {
	case r := <-it.res:
		return r.ID, r.Err
	case <-ctx.Done():
		if b.withdraw(it) {
			return "", ctxErr(OpRemember, b.sp.name, ctx.Err())
		}
		r := <-it.res // already in a batch: its outcome is on the way
		return r.ID, r.Err
	}
}

func (b *Batcher) enqueue(ctx context.Context, m Memory) (*pendingItem, error) {
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctxErr(OpRemember, b.sp.name, ctx.Err())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		<-b.slots
		return nil, newErr(CodeClosed, OpRemember, b.sp.name, "batcher closed", nil)
	}
	it := &pendingItem{m: m, res: make(chan ItemResult, 1)}
	if len(b.pending) == 0 {
		b.first = time.Now()
	}
	b.pending = append(b.pending, it)
	b.sp.metrics.queueDepth.Add(1)
	if len(b.pending) == 1 || len(b.pending) >= b.size {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
	return it, nil
}

// withdraw removes a still-queued item, reporting whether it was found.
func (b *Batcher) withdraw(it *pendingItem) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, p := range b.pending {
		if p == it {
			b.pending = append(b.pending[:i], b.pending[i+1:]...)
			b.sp.metrics.queueDepth.Add(-1)
			<-b.slots
			return true
		}
	}
	return false
}

// run is the flusher: it waits for the first item, then for the batch to fill or its
// deadline, and commits.
func (b *Batcher) run() {
	defer close(b.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		b.mu.Lock()
		n, closed := len(b.pending), b.closed
		deadline := b.first.Add(b.opts.MaxDelay)
		size := b.size
		b.mu.Unlock()

		var ack chan struct{}
		switch {
		case n >= size || (closed && n > 0):
			// flush now
		case n > 0 && !time.Now().Before(deadline):
			// deadline passed
		case closed:
			b.commits.Wait()
			return
		default:
			wait := time.Hour
			if n > 0 {
				wait = time.Until(deadline)
			}
			timer.Reset(wait)
			select {
			case <-b.kick:
			case <-timer.C:
			case ack = <-b.flushReq:
			}
			timer.Stop()
			if ack == nil {
				continue
			}
		}
		b.flush()
		if ack != nil {
			b.commits.Wait() // Flush returns once what it flushed is committed
			close(ack)
		}
	}
}

// flush commits up to one batch of pending items.
func (b *Batcher) flush() {
	b.mu.Lock()
	n := min(len(b.pending), b.size)
	ids := make(batchIDs, n)
	for i, it := range b.pending[:n] {
		if !ids.add(it.m.ID) {
			n = i // the memory repeating an ID starts the next batch
			break
		}
	}
	batch := b.pending[:n:n]
	b.pending = append([]*pendingItem(nil), b.pending[n:]...)
	if len(b.pending) > 0 {
		b.first = time.Now() // the rest start a new batch
	}
	b.mu.Unlock()
	if n == 0 {
		return
	}
	mems := make([]Memory, n)
	for i, it := range batch {
		mems[i] = it.m
	}
	// The batch belongs to every caller in it, so it does not follow one caller's ctx.
	ctx := context.Background()
	if b.sp.embedder.Load() == nil {
		b.commits.Wait() // (an embedder detached meanwhile: keep the order)
		b.commit(ctx, batch, mems, nil)
		return
	}
	mems, fails := b.sp.embedMemories(ctx, mems, OpRemember) // while the previous batch commits
	b.committing <- struct{}{}
	b.commits.Add(1)
	go func() {
		defer b.commits.Done()
		defer func() { <-b.committing }()
		b.commit(ctx, batch, mems, &preEmbedded{fails: fails})
	}()
}

// commit stores one batch (its memories mems, embedded already when pre is not nil) and
// hands each caller its result.
func (b *Batcher) commit(ctx context.Context, batch []*pendingItem, mems []Memory, pre *preEmbedded) {
	n := len(batch)
	res, _ := b.sp.rememberEmbedded(ctx, mems, tier.Hot, OpRemember, pre)
	for i, it := range batch {
		r := res.Items[i]
		if r.Err != nil {
			r.Err = withItem(r.Err, -1) // a position in an internal batch means nothing to the caller
		}
		it.res <- r
	}
	b.sp.metrics.queueDepth.Add(-int64(n))
	for range n {
		<-b.slots
	}
	if b.sizer != nil {
		b.mu.Lock()
		b.size = b.sizer.observe(res.Elapsed)
		b.mu.Unlock()
		b.sp.metrics.batchSize.Store(int64(b.size))
	}
}

// batchIDs holds the IDs of a batch a Batcher or Stream is forming, so that a memory
// repeating one of them starts the next batch instead of joining this one. In one
// BatchRemember call a repeated ID is the caller's mistake (DUPLICATE_ID), but nobody
// forms a Batcher's or Stream's batches but the library: sending an ID again is an upsert
// of it, stored after the earlier memory (submission order), whatever the timing.
type batchIDs map[string]struct{}

// add records id and reports whether the batch may take it: false when the batch holds it
// already. A memory without an ID (one is generated) can always join.
func (s batchIDs) add(id string) bool {
	if id == "" {
		return true
	}
	if _, dup := s[id]; dup {
		return false
	}
	s[id] = struct{}{}
	return true
}

// Size returns the current flush size (changing under Adaptive).
func (b *Batcher) Size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.size
}

// Len returns how many memories wait to be flushed.
func (b *Batcher) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}

// Flush commits everything queued so far and returns when it is committed.
func (b *Batcher) Flush(ctx context.Context) error {
	for {
		b.mu.Lock()
		n, closed := len(b.pending), b.closed
		b.mu.Unlock()
		if n == 0 || closed {
			return nil
		}
		ack := make(chan struct{})
		select {
		case b.flushReq <- ack:
		case <-ctx.Done():
			return ctxErr(OpFlush, b.sp.name, ctx.Err())
		}
		select {
		case <-ack:
		case <-ctx.Done():
			return ctxErr(OpFlush, b.sp.name, ctx.Err())
		}
	}
}

// Close stops accepting memories, commits every queued one, and returns when all callers
// have their results. Closing twice is a no-op.
func (b *Batcher) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.done
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
	<-b.done
	b.sp.unregister(b)
	b.sp.metrics.queueCap.Add(-int64(b.opts.QueueSize))
	if b.sizer != nil {
		b.sp.metrics.batchSize.Store(0)
	}
	return nil
}

func (b *Batcher) String() string {
	return fmt.Sprintf("Batcher(%s, size %d, delay %v)", b.sp.name, b.Size(), b.opts.MaxDelay)
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
// whole-batch failure, if any: on a closed store every item fails with CLOSED and so does
// the call, as BatchRemember does; no items at all is EMPTY_BATCH.
func (s *Store) RememberMixed(ctx context.Context, items []SpaceMemory) (*BatchResult, error) {
	const op = OpRemember
	start := time.Now()
	res := &BatchResult{Items: make([]ItemResult, len(items))}
	switch {
	case len(items) == 0:
		return res, newErr(CodeEmptyBatch, op, "", "no memories", nil)
	case s.gate.isClosed():
		err := newErr(CodeClosed, op, "", "", nil)
		res.failRest(err, func(i int) string { return items[i].Memory.ID })
		res.tally(start)
		return res, err
	}
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
			if it.Err != nil {
				it.Err = withItem(it.Err, i) // position in the mixed input
			}
			res.Items[i] = it
		}
		// A missing space (or a bad name) fails its items alone; any other failure of a
		// group (CLOSED: the store closed meanwhile) is the call's too.
		perItem := o.r == nil && (CodeOf(o.err) == CodeSpaceNotFound || CodeOf(o.err) == CodeInvalidSpaceName)
		if o.err != nil && !perItem && firstErr == nil {
			firstErr = o.err
		}
	}
	res.tally(start)
	return res, firstErr
}
