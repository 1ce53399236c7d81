package engram

import "sync"

// gate counts calls in flight so that Close (of a store) or Drop (of a space) can refuse new
// calls and wait for running ones. Unlike an RWMutex, entering never blocks, so a call may
// enter again from inside another (BatchRecall running Recalls) without deadlocking
// against a waiting closer.
type gate struct {
	mu     sync.Mutex
	idle   sync.Cond
	n      int
	closed bool
}

// enter registers a call; false means the gate is closed and the call must not run.
func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.n++
	return true
}

func (g *gate) exit() {
	g.mu.Lock()
	g.n--
	if g.n == 0 && g.idle.L != nil {
		g.idle.Broadcast()
	}
	g.mu.Unlock()
}

// close refuses new calls and waits for running ones. It reports false if the gate was
// already closed.
func (g *gate) close() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.closed = true
	if g.idle.L == nil {
		g.idle.L = &g.mu
	}
	for g.n > 0 {
		g.idle.Wait()
	}
	return true
}

// reopen undoes close, for a drop that failed after closing its space.
func (g *gate) reopen() {
	g.mu.Lock()
	g.closed = false
	g.mu.Unlock()
}

func (g *gate) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}
