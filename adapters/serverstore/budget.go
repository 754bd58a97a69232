package serverstore

import (
	"container/list"
	"context"
	"fmt"
	"sync"
)

// Budget bounds the connections a process holds to one database server,
// across every tenant's pool: each open connection holds one unit. A
// connection that finds the budget used waits its turn, first come first
// served, and the store is asked to close idle connections (OnPressure)
// so the wait is short.
type Budget struct {
	mu      sync.Mutex
	size    int
	used    int
	peak    int
	waiters list.List // of chan struct{}; front: the longest waiting
	// pressure is called when a connection starts waiting on a used
	// budget and when nobody waits any more, never while mu is held: it
	// reads Stats to know which.
	pressure func()
}

// NewBudget returns a budget of size connections.
func NewBudget(size int) (*Budget, error) {
	if size < 1 {
		return nil, fmt.Errorf("serverstore: connection budget %d: want at least 1", size)
	}
	return &Budget{size: size}, nil
}

// Acquire takes a unit, waiting for one when all are held, or returns
// ctx's error.
func (b *Budget) Acquire(ctx context.Context) error {
	b.mu.Lock()
	if b.used < b.size && b.waiters.Len() == 0 {
		b.used++
		b.peak = max(b.peak, b.used)
		b.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	el := b.waiters.PushBack(ready)
	first := b.waiters.Len() == 1
	pressure := b.pressure
	b.mu.Unlock()
	if first && pressure != nil {
		pressure()
	}
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		select {
		case <-ready:
			// Handed a unit as ctx ended: pass it on.
			b.mu.Unlock()
			b.Release()
		default:
			b.waiters.Remove(el)
			b.mu.Unlock()
			b.relieved()
		}
		return fmt.Errorf("serverstore: waiting for a connection: %w", ctx.Err())
	}
}

// Release gives a unit back: to the longest waiting, if any.
func (b *Budget) Release() {
	b.mu.Lock()
	if el := b.waiters.Front(); el != nil {
		b.waiters.Remove(el)
		close(el.Value.(chan struct{}))
		b.mu.Unlock()
		b.relieved()
		return
	}
	b.used--
	b.mu.Unlock()
}

// relieved ends the pressure once nobody waits.
func (b *Budget) relieved() {
	b.mu.Lock()
	idle := b.waiters.Len() == 0
	pressure := b.pressure
	b.mu.Unlock()
	if idle && pressure != nil {
		pressure()
	}
}

// Stats returns the units held now, the most ever held at once, and how
// many connections wait.
func (b *Budget) Stats() (used, peak, waiting int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.peak, b.waiters.Len()
}

// Size returns how many connections the budget allows.
func (b *Budget) Size() int { return b.size }
