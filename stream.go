package engram

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engram-go/engram/tier"
)

// BackpressureMode says what Stream.Send does when the stream's queue is full.
//
// Deprecated: use tier.Mode, the one mode type of streams and the hot tier.
type BackpressureMode = tier.Mode

// Stream backpressure modes, the same values as tier.Block and tier.FailFast.
const (
	// Block waits for room until ctx ends (then fails with CANCELED / DEADLINE_EXCEEDED).
	Block = tier.Block
	// FailFast refuses at once with the retryable BACKPRESSURE code and a RetryAfter hint.
	FailFast = tier.FailFast
)

// StreamOptions configure a Stream.
type StreamOptions struct {
	// QueueSize bounds the memories accepted and not yet committed (default 10,000).
	QueueSize int
	// Mode is the producer-side backpressure (default Block).
	Mode tier.Mode
	// RetryAfter is the hint FailFast refusals carry; 0 estimates it as the latency of the
	// last committed batch (the time until room frees up).
	RetryAfter time.Duration
	// MaxItems and MaxDelay batch the flow as a Batcher does (defaults 1000 and 10 ms);
	// Adaptive, when set, sizes batches from their latency.
	MaxItems int
	MaxDelay time.Duration
	Adaptive *Adaptive
	// AckGrace is how long Close waits for a reader to take an acknowledgement when Acks'
	// buffer is full (default 1 s): a reader that keeps reading gets every ack, and when
	// none is taken for AckGrace, Close drops the rest instead of waiting forever for a
	// reader that is not there (DroppedAcks counts them).
	AckGrace time.Duration
	// NoAcks drops acknowledgements, for fire-and-forget ingestion (Close then reports the
	// memories that could not be stored); otherwise the caller reads Acks until it is
	// closed (an unread Acks channel stops the stream, which is consumer-side backpressure,
	// until Close: see Stream.Close).
	NoAcks bool
}

// Ack acknowledges one memory sent to a Stream, in submission order.
type Ack struct {
	Seq uint64 // the value Send returned for it
	ID  string // the stored memory's ID (empty when rejected)
	Err error  // nil when stored, else the memory's own *Error
}

// Stream is continuous ingestion into a space: producers Send memories into a bounded
// queue, a worker commits them in batches, and acknowledgements come back on Acks in
// submission order. Close drains it: every accepted memory is committed (or fails with its
// code), and Close returns in bounded time whether or not anyone reads Acks.
type Stream struct {
	sp   *Space
	opts StreamOptions

	sendMu chan struct{} // serializes Send so sequence numbers follow queue order; ctx-aware
	in     chan streamItem
	acks   chan Ack
	next   uint64

	closeOnce sync.Once
	closed    atomic.Bool
	closing   chan struct{} // closed when Close begins: acks stop waiting for a reader
	done      chan struct{}
	lastBatch atomic.Int64 // latency of the last batch, for RetryAfter
	depth     atomic.Int64

	dropped  atomic.Int64 // acks dropped because nobody read them by Close
	stalled  bool         // Close gave up on the reader (the worker's alone)
	lostMu   sync.Mutex
	lost     int   // memories not stored whose Ack nobody will see (NoAcks, or dropped)
	firstErr error // the first of them's error
}

type streamItem struct {
	seq uint64
	m   Memory
}

// NewStream starts a stream into the space.
func (sp *Space) NewStream(opts StreamOptions) *Stream {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 10_000
	}
	if opts.MaxItems <= 0 {
		opts.MaxItems = 1000
	}
	opts.MaxItems = min(opts.MaxItems, sp.store.limit.MaxBatch)
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 10 * time.Millisecond
	}
	if opts.AckGrace <= 0 {
		opts.AckGrace = time.Second
	}
	s := &Stream{sp: sp, opts: opts, sendMu: make(chan struct{}, 1), in: make(chan streamItem, opts.QueueSize),
		closing: make(chan struct{}), done: make(chan struct{})}
	if !opts.NoAcks {
		s.acks = make(chan Ack, opts.QueueSize)
	}
	sp.metrics.queueCap.Add(int64(opts.QueueSize))
	sp.register(s)
	go s.run()
	if sp.store.gate.isClosed() || sp.gate.isClosed() {
		// Born after its store closed (or its space was dropped): nothing would drain it,
		// so it starts closed and Send refuses. (A stream created while Close runs and
		// missed by it is refused by Send's own check of the store.)
		s.Close()
	}
	return s
}

// Send queues m and returns its sequence number (0, 1, 2, ... in queue order); its Ack
// carries the same number. When the queue is full, Send blocks until there is room or ctx
// ends (Block), or fails at once with BACKPRESSURE (FailFast). After Close of the stream
// or of its store it fails with CLOSED. Accepted memories are never dropped silently:
// Close commits them, and one that fails is reported by its Ack or, when nobody will see
// that, by Close. Sending an ID again is an upsert stored after the earlier memory (no
// DUPLICATE_ID: a batch of the stream ends before a memory repeating one of its IDs).
func (s *Stream) Send(ctx context.Context, m Memory) (uint64, error) {
	const op = OpStream
	select {
	case s.sendMu <- struct{}{}:
	case <-ctx.Done():
		return 0, ctxErr(op, s.sp.name, ctx.Err())
	}
	defer func() { <-s.sendMu }()
	if s.closed.Load() {
		return 0, newErr(CodeClosed, op, s.sp.name, "stream closed", nil)
	}
	if s.sp.store.gate.isClosed() {
		return 0, newErr(CodeClosed, op, s.sp.name, "store closed", nil)
	}
	it := streamItem{seq: s.next, m: m}
	if s.opts.Mode == FailFast {
		select {
		case s.in <- it:
		default:
			s.sp.metrics.rejected.Add(1)
			e := newErr(CodeBackpressure, op, s.sp.name, "stream queue is full", nil)
			e.RetryAfter = s.opts.RetryAfter
			if e.RetryAfter <= 0 {
				e.RetryAfter = max(time.Duration(s.lastBatch.Load()), s.opts.MaxDelay)
			}
			return 0, e
		}
	} else {
		select {
		case s.in <- it:
		case <-ctx.Done():
			return 0, ctxErr(op, s.sp.name, ctx.Err())
		case <-s.closing: // Close waits for this Send: give up rather than hold it
			return 0, newErr(CodeClosed, op, s.sp.name, "stream closed", nil)
		}
	}
	s.next++
	s.depth.Add(1)
	s.sp.metrics.queueDepth.Add(1)
	return it.seq, nil
}

// Acks returns the acknowledgements, in submission order; it is closed after Close has
// drained the stream. Nil under NoAcks.
func (s *Stream) Acks() <-chan Ack { return s.acks }

// Len returns how many accepted memories are not yet acknowledged.
func (s *Stream) Len() int { return int(s.depth.Load()) }

// Close stops accepting memories, commits every accepted one, closes Acks, and returns
// when done — in bounded time, whether or not anyone reads Acks: a reader that keeps
// reading gets every ack, but once no ack has been taken for AckGrace while Acks' buffer
// is full, the acks that do not fit are dropped instead of waited for (DroppedAcks counts
// them). Acks already buffered stay readable.
//
// Close returns nil when every accepted memory was stored or its failure was delivered in
// an Ack. Otherwise — under NoAcks, or when a failure's Ack was dropped — it returns an
// error with the first such failure's code (CLOSED when the store closed first, STORAGE,
// a validation code, ...), saying how many memories were not stored. Closing again returns
// the same.
func (s *Stream) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)       // first: a worker blocked on unread Acks goes on, and a blocked Send gives up
		s.sendMu <- struct{}{} // no Send is mid-flight while the queue closes
		s.closed.Store(true)
		close(s.in)
		<-s.sendMu
	})
	<-s.done
	return s.lostErr()
}

// DroppedAcks returns how many acknowledgements Close dropped because nobody read them.
// The memories themselves were committed (or their failures are in Close's error).
func (s *Stream) DroppedAcks() int64 { return s.dropped.Load() }

// deliver hands a to the Acks reader. Before Close it waits for room (consumer-side
// backpressure); once Close began it waits at most AckGrace for the reader to take an ack,
// and after one such wait in vain it no longer waits: an ack with no room is dropped. Only
// the worker goroutine calls it.
func (s *Stream) deliver(a Ack) {
	if s.acks == nil {
		s.lose(a.Err)
		return
	}
	select {
	case s.acks <- a:
		return
	default:
	}
	select {
	case s.acks <- a:
		return
	case <-s.closing:
	}
	if !s.stalled {
		t := time.NewTimer(s.opts.AckGrace)
		defer t.Stop()
		select {
		case s.acks <- a:
			return
		case <-t.C:
			s.stalled = true // nobody is reading: stop waiting for them
		}
	}
	select {
	case s.acks <- a: // the reader made room meanwhile
	default:
		s.dropped.Add(1)
		s.lose(a.Err)
	}
}

// lose records a memory whose failure err nobody will see in an Ack (nil: it was stored).
func (s *Stream) lose(err error) {
	if err == nil {
		return
	}
	s.lostMu.Lock()
	if s.lost++; s.firstErr == nil {
		s.firstErr = err
	}
	s.lostMu.Unlock()
}

// lostErr is Close's report of the memories lose recorded.
func (s *Stream) lostErr() error {
	s.lostMu.Lock()
	defer s.lostMu.Unlock()
	if s.lost == 0 {
		return nil
	}
	return newErr(CodeOf(s.firstErr), OpStream, s.sp.name,
		fmt.Sprintf("%d accepted memories were not stored, and no Ack reported it; the first", s.lost), s.firstErr)
}

func (s *Stream) run() {
	defer func() {
		if s.acks != nil {
			close(s.acks)
		}
		s.sp.metrics.queueCap.Add(-int64(s.opts.QueueSize))
		s.sp.unregister(s)
		close(s.done)
	}()
	var z *sizer
	size := s.opts.MaxItems
	if s.opts.Adaptive != nil {
		z = newSizer(*s.opts.Adaptive)
		size = z.size
		s.sp.metrics.batchSize.Store(int64(size))
		defer s.sp.metrics.batchSize.Store(0)
	}
	batch := make([]streamItem, 0, size)
	ids := make(batchIDs, size)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var held streamItem // a memory that repeated an ID of the batch before it: the next one's first
	hold := false
	// With an embedder, a batch's commit runs in the background while this loop gathers and
	// embeds the next batch; one commit at a time, so batches commit and ack in order. The
	// loop returns only once the last commit is done (the deferred close of acks runs
	// after this defer).
	var commits sync.WaitGroup
	committing := make(chan struct{}, 1)
	defer commits.Wait()
	for {
		// Wait for the first item of a batch, then fill until full, deadline, close, or a
		// memory whose ID the batch already holds (see batchIDs). After Close the queue
		// drains without waiting: a closed channel yields its items, then !ok.
		it := held
		if !hold {
			var ok bool
			if it, ok = <-s.in; !ok {
				return
			}
		}
		hold = false
		clear(ids)
		ids.add(it.m.ID)
		batch = append(batch[:0], it)
		timer.Reset(s.opts.MaxDelay)
	fill:
		for len(batch) < size {
			select {
			case it, ok := <-s.in:
				if !ok {
					break fill
				}
				if !ids.add(it.m.ID) {
					held, hold = it, true
					break fill
				}
				batch = append(batch, it)
			case <-timer.C:
				break fill
			}
		}
		timer.Stop()
		if s.sp.embedder.Load() == nil {
			commits.Wait() // (an embedder detached meanwhile: keep the order)
			s.commit(batch, nil, nil)
		} else {
			own := slices.Clone(batch) // batch is refilled while this one commits
			mems, fails := s.sp.embedMemories(context.Background(), memoriesOf(own), OpRemember)
			committing <- struct{}{}
			commits.Add(1)
			go func() {
				defer commits.Done()
				defer func() { <-committing }()
				s.commit(own, mems, &preEmbedded{fails: fails})
			}()
		}
		if z != nil {
			size = z.observe(time.Duration(s.lastBatch.Load()))
			s.sp.metrics.batchSize.Store(int64(size))
		}
	}
}

// memoriesOf returns the memories of a batch's items.
func memoriesOf(batch []streamItem) []Memory {
	mems := make([]Memory, len(batch))
	for i, it := range batch {
		mems[i] = it.m
	}
	return mems
}

// commit stores one batch and acknowledges its items in order. mems, when not nil, are the
// batch's memories as the space's embedder already embedded them (pre says which failed).
func (s *Stream) commit(batch []streamItem, mems []Memory, pre *preEmbedded) {
	if mems == nil {
		mems = memoriesOf(batch)
	}
	res, _ := s.sp.rememberEmbedded(context.Background(), mems, tier.Hot, OpRemember, pre)
	s.lastBatch.Store(int64(res.Elapsed))
	for i, it := range batch {
		r := res.Items[i]
		if r.Err != nil {
			r.Err = withItem(r.Err, -1) // a position in an internal batch means nothing to the caller
		}
		s.deliver(Ack{Seq: it.seq, ID: r.ID, Err: r.Err})
		s.depth.Add(-1)
		s.sp.metrics.queueDepth.Add(-1)
	}
}
