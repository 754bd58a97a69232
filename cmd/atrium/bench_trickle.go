package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/atrium-platform/atrium/adapters/assembly"
	invoicecmd "github.com/atrium-platform/atrium/commands/invoice"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/streams"
)

// trickleResult is the live projection of a steady trickle of commands:
// append-to-visible lag, measured without waiting for it (a WaitFor caller
// makes the runner commit at once), and how many events a commit held.
type trickleResult struct {
	Rate            float64 // commands a second asked for
	Sent            int
	P50, P99        time.Duration
	EventsPerCommit float64
}

// trickleFigure is a trickleResult as `atrium bench --json` prints it.
type trickleFigure struct {
	Rate            float64   `json:"rate_per_s"`
	Commands        int       `json:"commands"`
	Lag             lagFigure `json:"append_to_visible_lag"`
	EventsPerCommit float64   `json:"events_per_commit"`
}

// visible is a moment the tenant's projections were seen at a position.
type visible struct {
	at  time.Time
	pos streams.Position
}

// trickle sends commands on a fresh tenant at rate a second, from 8
// writers keeping a steady pace, for d, while the process's runner
// projects them live. Each command's lag is from its start until a poller
// of the runner's position (every 100 µs) first sees it committed.
func trickle(ctx context.Context, p *assembly.Process, rate float64, d time.Duration) (trickleResult, error) {
	const writers, poll = 8, 100 * time.Microsecond
	res := trickleResult{Rate: rate}
	t := tenant.ID("benchtrickle")
	ctx = user.With(tenant.With(ctx, t), user.Principal{ID: "00000000-0000-4000-8000-000000000002", Roles: []user.Role{user.Finance}})
	if err := p.OpenTenant(ctx); err != nil {
		return res, err
	}
	if err := p.Runner.Start(ctx); err != nil {
		return res, err
	}
	commits := func() uint64 {
		for _, s := range p.Runner.Status() {
			if s.Tenant == t {
				return s.Commits
			}
		}
		return 0
	}
	h := invoicecmd.NewHandler(p.Commands, benchSettings{}, benchMembers{}, time.Now)
	startPos, err := p.Runner.Position(ctx)
	if err != nil {
		return res, err
	}
	startCommits := commits()

	// The poller: every change of the committed position, with its time.
	var seen []visible
	stop := make(chan struct{})
	polled := make(chan error, 1)
	go func() {
		last := startPos
		for {
			select {
			case <-stop:
				polled <- nil
				return
			default:
			}
			pos, err := p.Runner.Position(ctx)
			if err != nil {
				polled <- err
				return
			}
			if pos > last {
				seen = append(seen, visible{at: time.Now(), pos: pos})
				last = pos
			}
			time.Sleep(poll)
		}
	}()

	type sent struct {
		start time.Time
		pos   streams.Position
	}
	var mu sync.Mutex
	var all []sent
	interval := time.Duration(float64(writers) / rate * float64(time.Second))
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			next := time.Now().Add(time.Duration(w) * interval / writers)
			for next.Before(deadline) {
				time.Sleep(time.Until(next))
				next = next.Add(interval)
				start := time.Now()
				r, err := h.Create(ctx, benchInvoice())
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				all = append(all, sent{start: start, pos: r.Position})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		close(stop)
		return res, errors.Join(err, <-polled)
	}
	// Every command visible, then the poller stops.
	var last streams.Position
	for _, s := range all {
		last = max(last, s.pos)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = p.Runner.WaitFor(wctx, last)
	cancel()
	time.Sleep(10 * poll) // the poller sees the last commit
	close(stop)
	if perr := <-polled; err != nil || perr != nil {
		return res, fmt.Errorf("trickle: %w", errors.Join(err, perr))
	}
	lags := make([]time.Duration, 0, len(all))
	for _, s := range all {
		i, _ := slices.BinarySearchFunc(seen, s.pos, func(v visible, pos streams.Position) int {
			switch {
			case v.pos < pos:
				return -1
			case v.pos > pos:
				return 1
			}
			return 0
		})
		if i == len(seen) {
			return res, fmt.Errorf("trickle: position %d never seen committed", s.pos)
		}
		lags = append(lags, max(0, seen[i].at.Sub(s.start)))
	}
	res.Sent = len(all)
	res.P50, res.P99 = p50p99(lags)
	endPos, err := p.Runner.Position(ctx)
	if err != nil {
		return res, err
	}
	if c := commits() - startCommits; c > 0 {
		res.EventsPerCommit = float64(endPos-startPos) / float64(c)
	}
	return res, nil
}
