package admission

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func mustGate(t *testing.T, cfg Config) *Gate {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestValidate(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("a gate without slots was accepted")
	}
	if _, err := New(Config{Slots: 1, Queue: -1}); err == nil {
		t.Fatal("a negative queue was accepted")
	}
}

// With every slot held by one key, the next slot goes to another key's
// job, even when the first key queued earlier.
func TestSlotsGoToWaitingKeysInTurn(t *testing.T) {
	g := mustGate(t, Config{Slots: 1, QueuePerKey: 10, MaxWait: 10 * time.Second})
	ctx := context.Background()
	hold, err := g.Acquire(ctx, "noisy")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	start := func(key string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := g.Acquire(ctx, key)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, key)
			mu.Unlock()
			release()
		}()
	}
	for range 3 {
		start("noisy")
	}
	waitWaiting(t, g, 3)
	start("quiet")
	waitWaiting(t, g, 4)
	hold()
	wg.Wait()
	// noisy queued first and is served first; quiet comes right after it,
	// before noisy's other waiting jobs.
	if len(order) != 4 || order[1] != "quiet" {
		t.Fatalf("served in order %v", order)
	}
}

func waitWaiting(t *testing.T, g *Gate, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, w := g.Load(); w == n {
			return
		}
		if time.Now().After(deadline) {
			_, w := g.Load()
			t.Fatalf("%d waiting, want %d", w, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPerKeyLimit(t *testing.T) {
	g := mustGate(t, Config{Slots: 4, PerKey: func(k string) int {
		if k == "small" {
			return 1
		}
		return 0
	}, QueuePerKey: 1, MaxWait: 50 * time.Millisecond})
	ctx := context.Background()
	r1, err := g.Acquire(ctx, "small")
	if err != nil {
		t.Fatal(err)
	}
	defer r1()
	// The second job of small waits (its limit is 1) and gives up.
	if _, err := g.Acquire(ctx, "small"); !errors.Is(err, ErrFull) {
		t.Fatalf("second job of a key limited to one: %v", err)
	}
	// Other keys still get slots.
	for range 3 {
		r, err := g.Acquire(ctx, "big")
		if err != nil {
			t.Fatal(err)
		}
		defer r()
	}
}

func TestQueuesAreBounded(t *testing.T) {
	g := mustGate(t, Config{Slots: 1, QueuePerKey: 2, Queue: 3, MaxWait: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hold, err := g.Acquire(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer hold()
	errs := make(chan error, 10)
	wait := func(key string) {
		go func() {
			_, err := g.Acquire(ctx, key)
			errs <- err
		}()
	}
	wait("a")
	wait("a")
	waitWaiting(t, g, 2)
	if _, err := g.Acquire(ctx, "a"); !errors.Is(err, ErrFull) {
		t.Fatalf("a third waiting job of one key: %v", err)
	}
	wait("b")
	waitWaiting(t, g, 3)
	if _, err := g.Acquire(ctx, "c"); !errors.Is(err, ErrFull) {
		t.Fatalf("a job over the gate's queue: %v", err)
	}
	cancel()
	for range 3 {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatalf("a waiting job whose ctx ended: %v", err)
		}
	}
	if r, w := g.Load(); r != 1 || w != 0 {
		t.Fatalf("after cancelling the waiting jobs: %d running, %d waiting", r, w)
	}
}

// Many keys taking and releasing slots at once never run more than the
// slots, and every job ends.
func TestRaceNeverOverSlots(t *testing.T) {
	g := mustGate(t, Config{Slots: 3, QueuePerKey: 100, Queue: 1000, MaxWait: 10 * time.Second})
	var mu sync.Mutex
	running, most := 0, 0
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := g.Acquire(context.Background(), string(rune('a'+i%7)))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			time.Sleep(100 * time.Microsecond)
			mu.Lock()
			running--
			mu.Unlock()
			release()
		}()
	}
	wg.Wait()
	if most > 3 {
		t.Fatalf("%d jobs ran at once on 3 slots", most)
	}
	if r, w := g.Load(); r != 0 || w != 0 {
		t.Fatalf("%d running, %d waiting after every job ended", r, w)
	}
	if len(g.keys) != 0 {
		t.Fatalf("%d idle keys kept", len(g.keys))
	}
}

// Background work waits however full the queues are, for as long as its
// ctx allows, and counts toward its key's limit.
func TestWaitIgnoresQueueBounds(t *testing.T) {
	g := mustGate(t, Config{Slots: 1, QueuePerKey: 1, Queue: 1, MaxWait: time.Millisecond})
	ctx := context.Background()
	hold, err := g.Acquire(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = g.Acquire(ctx, "b") }() // fills the queue, gives up after MaxWait
	got := make(chan error, 1)
	go func() {
		release, err := g.Wait(ctx, "a")
		if err == nil {
			release()
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond) // longer than MaxWait: Wait must not give up
	select {
	case err := <-got:
		t.Fatalf("Wait returned %v while the slot was held", err)
	default:
	}
	hold()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	hold, _ = g.Acquire(ctx, "a")
	defer hold()
	go cancel()
	if _, err := g.Wait(cctx, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after its ctx ended: %v", err)
	}
}
