package engram

import (
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Group commit. Every write of a space (BatchRemember, Remember, Forget, bulk updates) is a
// writeReq handed to the store's committer. Concurrent requests coalesce into one bbolt
// transaction — one fsync for all of them — with no fixed wait: the first request to arrive
// commits at once, and whatever queues up during its fsync goes into the next transaction.
// (bbolt's own DB.Batch waits up to 10 ms for company.)
//
// A request's write function runs inside the shared transaction, in queue order. If one
// fails, or if a request's ctx ended before the commit, the transaction is rolled back and
// rerun without it, so a request never shares the fate of another's bad input; a failed
// commit (a full disk) fails exactly the requests of that transaction.
//
// After the commit, each committed request of a space receives a ticket in commit order;
// requests then apply their changes to the in-memory index in ticket order (turnstile),
// each in its own goroutine, so the index work of one commit overlaps the next commit.

type writeReq struct {
	ctx   context.Context
	space *Space // nil for store-level writes
	write func(*bolt.Tx) error

	err    error     // outcome, set before the settling signal
	ticket uint64    // apply ticket in the space's commit order, when committed
	sig    chan bool // one signal: false = settled, true = handed the lead
}

type committer struct {
	mu        sync.Mutex
	queue     []*writeReq
	leading   bool
	lastGroup int // size of the group last taken from the queue
}

// submit commits r's write (grouped with concurrent ones) and returns once it is durable
// or has failed. On success r.ticket is the space's apply ticket.
func (s *Store) submit(r *writeReq) error {
	r.sig = make(chan bool, 1)
	c := &s.commit
	c.mu.Lock()
	c.queue = append(c.queue, r)
	if c.leading {
		c.mu.Unlock()
		if lead := <-r.sig; !lead {
			return r.err
		}
		c.mu.Lock() // we were handed the lead: our request is at the head of the queue
	}
	c.leading = true
	if len(c.queue) == 1 && c.lastGroup > 1 {
		// Alone in the queue right after a shared commit: give goroutines that are
		// runnable right now (typically the callers that commit just released) one chance
		// to join. This is a yield, not a timer, and it keeps commits from alternating
		// between a group of one and a group of everyone else. A lone writer (last group
		// of one) skips it: the yield wakes an idle thread each time, which costs a
		// single-goroutine writer about 5% of its rate.
		c.mu.Unlock()
		runtime.Gosched()
		c.mu.Lock()
	}
	group := c.queue
	c.queue = nil
	c.lastGroup = len(group)
	c.mu.Unlock()

	s.commitGroup(group)

	// Hand the lead to the first waiter, if any, so nobody leads for longer than its own
	// group (the leader's own latency stays one commit).
	c.mu.Lock()
	if len(c.queue) > 0 {
		c.queue[0].sig <- true
	} else {
		c.leading = false
	}
	c.mu.Unlock()
	return r.err
}

// errMember marks a member whose write failed, aborting the shared transaction.
type errMember struct {
	r   *writeReq
	err error
}

func (e *errMember) Error() string { return e.err.Error() }

// commitGroup runs the requests in one transaction and settles every one of them.
func (s *Store) commitGroup(group []*writeReq) {
	for len(group) > 0 {
		// Requests whose ctx already ended never start.
		live := group[:0:0]
		for _, r := range group {
			if err := r.ctx.Err(); err != nil {
				s.settle(r, err)
				continue
			}
			live = append(live, r)
		}
		if len(live) == 0 {
			return
		}
		var canceled []*writeReq
		err := s.updateGroup(func(tx *bolt.Tx) error {
			for _, r := range live {
				if err := r.write(tx); err != nil {
					return &errMember{r, err}
				}
			}
			if s.commitHook != nil {
				if err := s.commitHook(len(live)); err != nil {
					return err
				}
			}
			// Last look before the commit: a request canceled by now must leave no trace.
			for _, r := range live {
				if r.ctx.Err() != nil {
					canceled = append(canceled, r)
				}
			}
			if len(canceled) > 0 {
				return errRerun
			}
			return nil
		})
		var em *errMember
		switch {
		case err == nil:
			s.ticket(live)
			for _, r := range live {
				s.settle(r, nil)
			}
			return
		case errors.Is(err, errRerun):
			for _, r := range canceled {
				s.settle(r, r.ctx.Err())
			}
			group = without(live, canceled)
		case errors.As(err, &em) && len(live) > 1:
			// One member's write failed: give it its error alone, rerun the others.
			s.settle(em.r, em.err)
			group = without(live, []*writeReq{em.r})
		default:
			// The commit itself failed (or a lone member): everyone in it fails with it.
			if errors.As(err, &em) {
				err = em.err
			}
			for _, r := range live {
				s.settle(r, err)
			}
			return
		}
	}
}

var errRerun = errors.New("engram: rerun group")

// updateGroup is db.Update with bbolt panics (a damaged file) turned into CORRUPT.
func (s *Store) updateGroup(fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(&err)
	return s.db.Update(fn)
}

// ticket hands out apply tickets, in commit order, to the committed requests of spaces.
func (s *Store) ticket(rs []*writeReq) {
	for _, r := range rs {
		if r.space != nil {
			r.ticket = r.space.turn.issue()
		}
	}
}

func (s *Store) settle(r *writeReq, err error) {
	r.err = err
	r.sig <- false
}

func without(rs, drop []*writeReq) []*writeReq {
	out := make([]*writeReq, 0, len(rs))
	for _, r := range rs {
		keep := true
		for _, d := range drop {
			if r == d {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, r)
		}
	}
	return out
}

// turnstile makes the committed writes of a space touch its index in commit order. A
// ticket holder waits on its own channel and the one leaving wakes exactly the next ticket,
// so 32 callers of one group commit cost 32 wakeups, not 32² (a condition variable's
// broadcast would wake every waiter at every turn).
type turnstile struct {
	issued  atomic.Uint64 // last ticket handed out
	mu      sync.Mutex
	done    uint64                   // last ticket that left (guarded by mu)
	waiters map[uint64]chan struct{} // tickets waiting for their turn (guarded by mu)
}

func (t *turnstile) issue() uint64 { return t.issued.Add(1) }

// enter waits for ticket's turn. Until leave, no other write of the space touches the index.
func (t *turnstile) enter(ticket uint64) {
	t.mu.Lock()
	if t.done+1 == ticket {
		t.mu.Unlock()
		return
	}
	if t.waiters == nil {
		t.waiters = make(map[uint64]chan struct{})
	}
	ch := make(chan struct{})
	t.waiters[ticket] = ch
	t.mu.Unlock()
	<-ch
}

func (t *turnstile) leave(ticket uint64) {
	t.mu.Lock()
	t.done = ticket
	if ch, ok := t.waiters[ticket+1]; ok {
		delete(t.waiters, ticket+1)
		close(ch)
	}
	t.mu.Unlock()
}

// exclusive runs fn between two writes' turns (for snapshots): it takes a ticket of its
// own, so it runs after every write that already has a ticket has applied and before any
// later one does; fn sees the index as a prefix of the commits left it.
func (t *turnstile) exclusive(fn func()) {
	ticket := t.issue()
	t.enter(ticket)
	defer t.leave(ticket)
	fn()
}
