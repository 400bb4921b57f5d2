package extproc

import "sync"

// readiness tells waiters that something Ready depends on has changed,
// besides the passing of time: a catalog applied, or draining started.
type readiness struct {
	mu      sync.Mutex
	changed chan struct{}
}

// wait returns a channel closed at the next change.
func (r *readiness) wait() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.changed == nil {
		r.changed = make(chan struct{})
	}
	return r.changed
}

// signal wakes every waiter.
func (r *readiness) signal() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}
