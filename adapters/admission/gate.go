// Package admission shares scarce work fairly between tenants: a Gate
// runs a bounded number of jobs at once, queues a bounded number more, and
// when a slot frees it serves the tenants with waiting jobs in turn, so one
// tenant at saturation waits behind its own jobs, never ahead of another's.
package admission

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrFull is returned when a key's queue, or the gate's, is full, or the
// wait allowed is over: nothing was run; try again later.
var ErrFull = errors.New("admission: too much work waiting")

// Config bounds a Gate.
type Config struct {
	// Slots is how many jobs run at once, whatever their key. Required.
	Slots int
	// PerKey bounds the jobs of one key running at once; nil or a result
	// of 0 or less allows Slots.
	PerKey func(key string) int
	// QueuePerKey bounds the jobs of one key waiting; default 2 × Slots.
	QueuePerKey int
	// Queue bounds the jobs waiting in all; default 16 × Slots.
	Queue int
	// MaxWait bounds how long a job waits for a slot; default 5s.
	MaxWait time.Duration
}

// Validate reports every value out of range.
func (c Config) Validate() error {
	var errs []error
	if c.Slots < 1 {
		errs = append(errs, errors.New("admission: Slots must be at least 1"))
	}
	if c.QueuePerKey < 0 || c.Queue < 0 || c.MaxWait < 0 {
		errs = append(errs, errors.New("admission: QueuePerKey, Queue and MaxWait must not be negative"))
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.QueuePerKey == 0 {
		c.QueuePerKey = 2 * c.Slots
	}
	if c.Queue == 0 {
		c.Queue = 16 * c.Slots
	}
	if c.MaxWait == 0 {
		c.MaxWait = 5 * time.Second
	}
}

// Gate admits jobs. It is safe for concurrent use.
type Gate struct {
	cfg Config

	mu      sync.Mutex
	running int
	waiting int
	keys    map[string]*keyState
	// turn lists the keys with waiting jobs in the order they are served.
	turn []string
}

type keyState struct {
	running int
	queue   []*waiter
}

type waiter struct {
	ready   chan struct{}
	granted bool
}

// New returns a gate.
func New(cfg Config) (*Gate, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	return &Gate{cfg: cfg, keys: map[string]*keyState{}}, nil
}

func (g *Gate) perKey(key string) int {
	if g.cfg.PerKey == nil {
		return g.cfg.Slots
	}
	if n := g.cfg.PerKey(key); n > 0 {
		return min(n, g.cfg.Slots)
	}
	return g.cfg.Slots
}

// Acquire waits for a slot for a job of key and returns the function that
// frees it, to be called once the job is done. It returns ErrFull at once
// when the queues are full, or when no slot came within MaxWait, and the
// ctx error when ctx ends first. key is kept: pass a string the caller
// owns.
func (g *Gate) Acquire(ctx context.Context, key string) (release func(), err error) {
	return g.acquire(ctx, key, true)
}

// Wait is Acquire for background work of key (a tenant's projection, of
// which one job at a time waits): it is queued whatever the queues hold,
// waits as long as ctx allows, and is served in turn with the other keys'
// jobs, counting toward key's PerKey.
func (g *Gate) Wait(ctx context.Context, key string) (release func(), err error) {
	return g.acquire(ctx, key, false)
}

func (g *Gate) acquire(ctx context.Context, key string, bounded bool) (release func(), err error) {
	g.mu.Lock()
	k := g.keys[key]
	if k == nil {
		k = &keyState{}
		g.keys[key] = k
	}
	if len(k.queue) == 0 && k.running < g.perKey(key) && g.running < g.cfg.Slots {
		k.running++
		g.running++
		g.mu.Unlock()
		return g.releaser(key), nil
	}
	if bounded && (len(k.queue) >= g.cfg.QueuePerKey || g.waiting >= g.cfg.Queue) {
		g.forget(key, k)
		g.mu.Unlock()
		return nil, ErrFull
	}
	w := &waiter{ready: make(chan struct{})}
	if len(k.queue) == 0 {
		g.turn = append(g.turn, key)
	}
	k.queue = append(k.queue, w)
	g.waiting++
	g.mu.Unlock()

	var timeout <-chan time.Time
	if bounded {
		timer := time.NewTimer(g.cfg.MaxWait)
		defer timer.Stop()
		timeout = timer.C
	}
	select {
	case <-w.ready:
		return g.releaser(key), nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-timeout:
		err = ErrFull
	}
	g.mu.Lock()
	if w.granted { // the slot came as we gave up: hand it on
		g.mu.Unlock()
		g.releaser(key)()
		return nil, err
	}
	for i, q := range k.queue {
		if q == w {
			k.queue = append(k.queue[:i], k.queue[i+1:]...)
			break
		}
	}
	g.waiting--
	if len(k.queue) == 0 {
		g.dropTurn(key)
	}
	g.forget(key, k)
	g.mu.Unlock()
	return nil, err
}

func (g *Gate) releaser(key string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			k := g.keys[key]
			k.running--
			g.running--
			g.dispatch()
			g.forget(key, k)
		})
	}
}

// dispatch grants free slots to waiting jobs, one key after another.
func (g *Gate) dispatch() {
	for g.running < g.cfg.Slots && len(g.turn) > 0 {
		served := false
		for i := 0; i < len(g.turn) && g.running < g.cfg.Slots; {
			key := g.turn[i]
			k := g.keys[key]
			if k.running >= g.perKey(key) {
				i++
				continue
			}
			w := k.queue[0]
			k.queue = k.queue[1:]
			g.waiting--
			k.running++
			g.running++
			w.granted = true
			close(w.ready)
			served = true
			// The key goes to the back of the turn: others come first.
			g.turn = append(g.turn[:i], g.turn[i+1:]...)
			if len(k.queue) > 0 {
				g.turn = append(g.turn, key)
			}
		}
		if !served {
			return
		}
	}
}

func (g *Gate) dropTurn(key string) {
	for i, t := range g.turn {
		if t == key {
			g.turn = append(g.turn[:i], g.turn[i+1:]...)
			return
		}
	}
}

// forget drops the state of an idle key, so keys seen once do not pile up.
func (g *Gate) forget(key string, k *keyState) {
	if k.running == 0 && len(k.queue) == 0 {
		delete(g.keys, key)
	}
}

// Load reports the jobs running and waiting now.
func (g *Gate) Load() (running, waiting int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running, g.waiting
}
