package projections

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/atrium-platform/atrium/streams"
)

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	Store ReadStore
	// Migrator reports schema versions for Start's gate; default: Store,
	// when it implements Migrator.
	Migrator   Migrator
	Registry   *streams.Registry
	Source     Source
	Projectors []Projector
	// Scheduler, when set, gives each piece of a tenant's projection work
	// its turn; default none (every tenant's projection runs when it can).
	Scheduler Scheduler
	// Poison receives, on topic "poison.<tenant>", the events that failed
	// after retries (or that can never succeed: metadata or data that does
	// not decode), so the tenant's other events keep flowing.
	Poison message.Publisher
	Logger *slog.Logger
	// BatchSize commits a batch after this many events; default 500.
	BatchSize int
	// MaxBatchDelay commits an open batch at the latest after this long;
	// default 50ms. A batch also commits once the source reports that
	// nothing more is pending: at once when a WaitFor caller is waiting,
	// else GroupDelay after the batch began, so that a steady trickle of
	// events commits in small groups rather than once per event.
	MaxBatchDelay time.Duration
	// GroupDelay is how long a batch that caught up with the source stays
	// open for the next events while nobody waits for it; default 2ms.
	GroupDelay time.Duration
	// Retries of a failing event before it goes to the poison queue; default 3.
	Retries int
	// ResubscribeDelay is the first pause before a tenant's subscription
	// that ended (source failure, failed commit) resumes from the committed
	// checkpoint; it doubles on each failure in a row, up to 5 s, and is
	// the first pause again once a batch commits or a subscription has held
	// for 5 s. Default 100ms. An outage is logged once when it begins
	// (with the first failed attempt's reason) and once when it ends.
	ResubscribeDelay time.Duration
}

func (c *RunnerConfig) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Migrator == nil {
		c.Migrator, _ = c.Store.(Migrator)
	}
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	if c.MaxBatchDelay == 0 {
		c.MaxBatchDelay = 50 * time.Millisecond
	}
	if c.GroupDelay == 0 {
		c.GroupDelay = 2 * time.Millisecond
	}
	if c.Retries == 0 {
		c.Retries = 3
	}
	if c.ResubscribeDelay == 0 {
		c.ResubscribeDelay = 100 * time.Millisecond
	}
}

// Validate reports every problem of c.
func (c RunnerConfig) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("runner: no read store"))
	}
	if c.Migrator == nil {
		errs = append(errs, errors.New("runner: no migrator (the read store does not report schema versions)"))
	}
	if c.Registry == nil {
		errs = append(errs, errors.New("runner: no registry"))
	}
	if c.Source == nil {
		errs = append(errs, errors.New("runner: no source"))
	}
	if c.Poison == nil {
		errs = append(errs, errors.New("runner: no poison publisher"))
	}
	if len(c.Projectors) == 0 {
		errs = append(errs, errors.New("runner: no projectors"))
	}
	seen := map[string]bool{CheckpointName: true}
	for i, p := range c.Projectors {
		if p == nil {
			errs = append(errs, fmt.Errorf("runner: projector %d is nil", i))
			continue
		}
		if seen[p.Name()] {
			errs = append(errs, fmt.Errorf("runner: projector name %q used twice or reserved", p.Name()))
		}
		seen[p.Name()] = true
	}
	if c.BatchSize < 0 || c.MaxBatchDelay < 0 || c.Retries < 0 || c.ResubscribeDelay < 0 {
		errs = append(errs, errors.New("runner: negative batch size, delay, retries or resubscribe delay"))
	}
	return errors.Join(errs...)
}
