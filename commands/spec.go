package commands

import (
	"context"
	"fmt"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/user"
)

// Command is a command struct: one that embeds Request, which carries the
// client's options beside the command's own fields.
type Command interface {
	// Options returns the options the client gave.
	Options() Request
	// SetOptions sets the options the edge read from the client.
	SetOptions(Request)
}

// Spec declares one use case of a domain: the aggregate it acts on, who
// may run it, and how it decides. Handle turns it into a Handler that runs
// it through the pipeline every command shares.
type Spec[C any] struct {
	// Name is the use case's stable name, in metrics and logs
	// ("issue_invoice").
	Name string
	// Category is the stream category of the aggregate ("invoice").
	Category string
	// Roles may run the command; none: any member of the tenant.
	Roles []user.Role
	// Creates marks a command that creates its aggregate: its id is new,
	// derived from the idempotency key when the client gave one.
	Creates bool
	// ID returns the id of the aggregate a command on an existing one acts
	// on. An id that is not a canonical UUID names no aggregate.
	ID func(c C) string
	// Missing is the code of the NotFound answer for an aggregate that does
	// not exist ("invoice_not_found"), for commands on an existing one.
	Missing string
	// Decide decides on the aggregate's history (empty for a new one). It
	// is called again when an append lost a race.
	Decide func(ctx context.Context, c C, t Target, history []domain.Event) (Decision, error)
}

// Target is what the pipeline resolved for a command before its decision:
// the aggregate's id, and the command's id (the idempotency key scoped to
// the tenant and the caller, or a fresh one), which names what the command
// records once (a payment, say) so a retry records nothing twice.
type Target struct {
	ID        string
	CommandID string
}

func (s Spec[C]) validate() error {
	switch {
	case s.Name == "" || s.Category == "" || s.Decide == nil:
		return fmt.Errorf("commands: spec %q needs a name, a category and a decision", s.Name)
	case !s.Creates && (s.ID == nil || s.Missing == ""):
		return fmt.Errorf("commands: spec %q acts on an existing aggregate: it needs ID and Missing", s.Name)
	}
	return nil
}

// Handler runs a command in the ctx tenant, by the ctx caller.
type Handler[C any] func(ctx context.Context, c C) (Result, error)

// Handle returns the handler of spec on x. A spec missing what it needs is
// a programming error: Handle panics, when the process is assembled.
func Handle[C any, P interface {
	*C
	Command
}](x *Executor, spec Spec[C]) Handler[C] {
	if err := spec.validate(); err != nil {
		panic(err)
	}
	run := x.pipeline()
	return func(ctx context.Context, c C) (Result, error) {
		k := &call{name: spec.Name, req: P(&c).Options(), authorize: true, roles: spec.Roles,
			category: spec.Category, creates: spec.Creates, missing: spec.Missing}
		if !spec.Creates {
			k.id = spec.ID(c)
		}
		k.decide = func(ctx context.Context, t Target, history []domain.Event) (Decision, error) {
			return spec.Decide(ctx, c, t, history)
		}
		return run(ctx, k)
	}
}
