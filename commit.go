package engram

import (
	"context"
	"errors"
	"runtime"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// committer is group commit: it turns concurrent write requests into as few bbolt
// transactions as it can, with no fixed wait. bbolt has one writer and every fsync'd
// commit costs the same whatever it carries, so sharing commits is what makes 32 unary
// writers about 10× faster than one (README, "Batch operations"). bbolt's own DB.Batch
// waits up to 10 ms for company; this waits for none.
//
// Outline of a request's life (submit):
//
//  1. The request joins the queue. If nobody leads, it becomes the leader; otherwise it
//     sleeps until it is either settled (its outcome is known) or handed the lead.
//  2. The leader takes the whole queue as its group and runs every member's write in one
//     transaction, in queue order (commitGroup). A member whose write fails (or panics on a
//     damaged page) is taken out and the rest rerun without it; a member whose ctx ended
//     before the commit is taken out the same way, so it leaves no trace. A failed commit
//     (a full disk) fails exactly that group.
//  3. After the commit, onCommit hands each member an apply ticket in commit order; then
//     every member is settled.
//  4. The leader hands the lead to the first request that queued meanwhile (its group is
//     the next transaction), or clears leading, and returns its own outcome.
//  5. Each settled writer applies its change to the in-memory indexes in ticket order
//     (turnstile, Space.applyInTurn), in its own goroutine: the index work of one commit
//     overlaps the next commit.
//
// Invariants:
//
//   - (I1) At most one leader at a time: leading is set by the request that finds it clear
//     and cleared only by a leader that finds the queue empty, both under mu.
//   - (I2) leading stays true while the lead is handed on: the leader signals the next
//     request under mu without clearing it, so no newcomer can start a second group.
//   - (I3) Each request receives exactly one signal on sig (capacity 1): false when settled,
//     true when handed the lead; a leader settles itself by returning, with no signal.
//   - (I4) A request's ticket is issued only if its transaction committed, and tickets of
//     one space follow commit order, so applying in ticket order applies in commit order.
//
// Writes that bypass the committer, and why (they use Store.update directly):
//
//   - space create and drop: rare, and they change the set of buckets every grouped write
//     relies on; they run under the store's mutex instead.
//   - graph snapshots: megabytes per transaction, written by Close and Space.Snapshot; they
//     must not stretch the latency of the small writes that would share their commit.
//   - the access-statistics flush: best-effort, once a second, and it must not take an
//     apply ticket (it changes no index).
//   - Open's format check.
type committer struct {
	env commitEnv

	mu        sync.Mutex
	queue     []*writeReq
	leading   bool
	lastGroup int // size of the group last taken from the queue
}

// commitEnv is what the committer needs from its store. It is the seam that lets tests
// drive the committer without a store (commit_test.go), and wrap a store's transactions
// to inject commit failures.
type commitEnv struct {
	// update runs fn in one write transaction of members requests and commits it; an error
	// from fn rolls the transaction back and is returned.
	update func(members int, fn func(*bolt.Tx) error) error
	// onCommit runs after a group's transaction committed, before its members are settled.
	onCommit func(group []*writeReq)
}

// writeReq is one write handed to the committer.
type writeReq struct {
	ctx context.Context
	// turn orders the request's apply step among its space's writes: when it commits it
	// gets a ticket from turn. Every write that changes in-memory state (remember, forget,
	// update, migration) has one; nil for writes with nothing to apply (checkpoints).
	turn  *turnstile
	write func(*bolt.Tx) error

	err    error     // outcome, set before the settling signal
	ticket uint64    // apply ticket from turn, when committed
	sig    chan bool // one signal (I3): false = settled, true = handed the lead
}

// issueTickets is the store's onCommit: apply tickets in commit order (I4).
func issueTickets(group []*writeReq) {
	for _, r := range group {
		if r.turn != nil {
			r.ticket = r.turn.issue()
		}
	}
}

// submit commits r's write, grouped with concurrent ones, and returns once it is durable
// or has failed. On success r.ticket is its apply ticket.
func (c *committer) submit(r *writeReq) error {
	r.sig = make(chan bool, 1)
	c.mu.Lock()
	c.queue = append(c.queue, r)
	if c.leading {
		c.mu.Unlock()
		if lead := <-r.sig; !lead {
			return r.err
		}
		c.mu.Lock() // handed the lead (I2): r is at the head of the queue
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

	c.commitGroup(group)

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

var errRerun = errors.New("engram: rerun group")

// commitGroup runs the requests in one transaction and settles every one of them.
func (c *committer) commitGroup(group []*writeReq) {
	for len(group) > 0 {
		// Requests whose ctx already ended never start.
		live := group[:0:0]
		for _, r := range group {
			if err := r.ctx.Err(); err != nil {
				settle(r, err)
				continue
			}
			live = append(live, r)
		}
		if len(live) == 0 {
			return
		}
		var canceled []*writeReq
		err := c.env.update(len(live), func(tx *bolt.Tx) error {
			for _, r := range live {
				if err := writeOne(r, tx); err != nil {
					return &errMember{r, err}
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
			c.env.onCommit(live)
			for _, r := range live {
				settle(r, nil)
			}
			return
		case errors.Is(err, errRerun):
			for _, r := range canceled {
				settle(r, r.ctx.Err())
			}
			group = without(live, canceled)
		case errors.As(err, &em) && len(live) > 1:
			// One member's write failed: give it its error alone, rerun the others.
			settle(em.r, em.err)
			group = without(live, []*writeReq{em.r})
		default:
			// The commit itself failed (or a lone member): everyone in it fails with it.
			if errors.As(err, &em) {
				err = em.err
			}
			for _, r := range live {
				settle(r, err)
			}
			return
		}
	}
}

// writeOne runs one member's write, turning a panic inside it (bbolt meeting a damaged
// page) into that member's CORRUPT error, as bbolt's own safelyCall isolates one Batch
// call: the group is rerun without it instead of failing with it.
func writeOne(r *writeReq, tx *bolt.Tx) (err error) {
	defer recoverCorrupt(&err)
	return r.write(tx)
}

func settle(r *writeReq, err error) {
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
