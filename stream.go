package engram

import (
	"context"
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
	// NoAcks drops acknowledgements, for fire-and-forget ingestion; otherwise the caller
	// must read Acks until it is closed (an unread Acks channel stops the stream, which is
	// consumer-side backpressure).
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
// submission order. Close drains it: every accepted memory is committed and acknowledged.
type Stream struct {
	sp   *Space
	opts StreamOptions

	sendMu chan struct{} // serializes Send so sequence numbers follow queue order; ctx-aware
	in     chan streamItem
	acks   chan Ack
	next   uint64

	closeOnce sync.Once
	closed    atomic.Bool
	done      chan struct{}
	lastBatch atomic.Int64 // latency of the last batch, for RetryAfter
	depth     atomic.Int64
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
	s := &Stream{sp: sp, opts: opts, sendMu: make(chan struct{}, 1), in: make(chan streamItem, opts.QueueSize),
		done: make(chan struct{})}
	if !opts.NoAcks {
		s.acks = make(chan Ack, opts.QueueSize)
	}
	sp.metrics.queueCap.Add(int64(opts.QueueSize))
	sp.register(s)
	go s.run()
	return s
}

// Send queues m and returns its sequence number (0, 1, 2, ... in queue order); its Ack
// carries the same number. When the queue is full, Send blocks until there is room or ctx
// ends (Block), or fails at once with BACKPRESSURE (FailFast). After Close it fails with
// CLOSED. Accepted memories are never lost: Close commits them.
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

// Close stops accepting memories, commits and acknowledges every accepted one, closes
// Acks, and returns when done. Closing twice is a no-op.
func (s *Stream) Close() error {
	s.closeOnce.Do(func() {
		s.sendMu <- struct{}{} // no Send is mid-flight while the queue closes
		s.closed.Store(true)
		close(s.in)
		<-s.sendMu
	})
	<-s.done
	return nil
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
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		// Wait for the first item of a batch, then fill until full, deadline or close.
		it, ok := <-s.in
		if !ok {
			return
		}
		batch = append(batch[:0], it)
		timer.Reset(s.opts.MaxDelay)
		open := true
	fill:
		for len(batch) < size {
			select {
			case it, ok := <-s.in:
				if !ok {
					open = false
					break fill
				}
				batch = append(batch, it)
			case <-timer.C:
				break fill
			}
		}
		timer.Stop()
		s.commit(batch)
		if z != nil {
			size = z.observe(time.Duration(s.lastBatch.Load()))
			s.sp.metrics.batchSize.Store(int64(size))
		}
		if !open {
			// Drain whatever remains after close, in batches.
			for {
				batch = batch[:0]
				for len(batch) < size {
					it, ok := <-s.in
					if !ok {
						break
					}
					batch = append(batch, it)
				}
				if len(batch) == 0 {
					return
				}
				s.commit(batch)
			}
		}
	}
}

// commit stores one batch and acknowledges its items in order.
func (s *Stream) commit(batch []streamItem) {
	mems := make([]Memory, len(batch))
	for i, it := range batch {
		mems[i] = it.m
	}
	res, _ := s.sp.BatchRemember(context.Background(), mems)
	s.lastBatch.Store(int64(res.Elapsed))
	for i, it := range batch {
		r := res.Items[i]
		if r.Err != nil {
			r.Err = withItem(r.Err, -1) // a position in an internal batch means nothing to the caller
		}
		if s.acks != nil {
			s.acks <- Ack{Seq: it.seq, ID: r.ID, Err: r.Err}
		}
		s.depth.Add(-1)
		s.sp.metrics.queueDepth.Add(-1)
	}
}
