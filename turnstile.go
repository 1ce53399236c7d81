package engram

import (
	"sync"
	"sync/atomic"
)

// turnstile makes the committed writes of a space touch its in-memory state (indexes,
// tier bookkeeping) in commit order. Each committed write holds a ticket (commit.go, I4);
// a ticket holder waits on its own channel and the one leaving wakes exactly the next
// ticket, so 32 callers of one group commit cost 32 wakeups, not 32² (a condition
// variable's broadcast would wake every waiter at every turn).
type turnstile struct {
	issued  atomic.Uint64 // last ticket handed out
	mu      sync.Mutex
	done    uint64                   // last ticket that left (guarded by mu)
	waiters map[uint64]chan struct{} // tickets waiting for their turn (guarded by mu)
}

func (t *turnstile) issue() uint64 { return t.issued.Add(1) }

// enter waits for ticket's turn. Until leave, no other write of the space touches the
// in-memory state.
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

// inTurn runs fn in ticket's turn and leaves the turn even if fn panics, so a failed
// apply step cannot wedge every later write of the space.
func (t *turnstile) inTurn(ticket uint64, fn func()) {
	t.enter(ticket)
	defer t.leave(ticket)
	fn()
}

// exclusive runs fn between two writes' turns (snapshots, Check): it takes a ticket of its
// own, so it runs after every write that already has a ticket has applied and before any
// later one does; fn sees the in-memory state as a prefix of the commits.
func (t *turnstile) exclusive(fn func()) {
	t.inTurn(t.issue(), fn)
}
