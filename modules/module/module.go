// Package module is the contract between the process and a business
// domain. A domain (invoicing, expenses, objectives, ...) is a Module: its
// events, its read models, and, once opened over the ports the process
// gives it (Env), its HTTP resources and its demo data. The assembly
// mounts every module from one list (package modules) without knowing any
// of them; adding a domain is its own folders and one entry in that list.
package module

import (
	"context"
	"errors"
	"log/slog"
	"time"

	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	"github.com/atrium-platform/atrium/commands"
	erpcmd "github.com/atrium-platform/atrium/commands/erp"
	"github.com/atrium-platform/atrium/documents"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenancy"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

// Module is a business domain as the process mounts it.
type Module struct {
	// Name names the module in logs and errors ("invoicing").
	Name string
	// Events are the domain's events, registered by their stable names.
	Events []domain.Event
	// Projectors are the domain's read models.
	Projectors []projections.Projector
	// ERP are the stream categories whose events a tenant may choose to
	// send to its ERP ("invoice"), by that name.
	ERP []string
	// Open builds the domain's commands and queries over env and returns
	// what it serves. It is called once, when the process starts.
	Open func(env Env) (Parts, error)
}

// Validate reports what m lacks.
func (m Module) Validate() error {
	var errs []error
	if m.Name == "" {
		errs = append(errs, errors.New("module: no name"))
	}
	if m.Open == nil {
		errs = append(errs, errors.New("module "+m.Name+": no Open"))
	}
	return errors.Join(errs...)
}

// Env is what the process gives a domain: the ports it works with.
type Env struct {
	// Commands runs the domain's commands (package commands' pipeline).
	Commands *commands.Executor
	// Store is the event store, for reads of history (as of a time).
	Store streams.Store
	// Reads opens the ctx tenant's read database, for queries.
	Reads projections.ReadStore
	// Documents keeps files beside the events (receipts).
	Documents documents.Store
	// Settings answers the ctx tenant's configuration.
	Settings Settings
	// Members answers who belongs to the ctx tenant, with which roles.
	Members commands.Members
	// Now is the clock.
	Now    func() time.Time
	Logger *slog.Logger
}

// Settings answers the ctx tenant's configuration.
type Settings interface {
	Settings(ctx context.Context) (tenancy.Settings, error)
}

// Parts are what an opened domain serves.
type Parts struct {
	// Routes mounts the domain's HTTP resources.
	Routes func(r atriumhttp.Routes)
	// Seed writes the domain's demo data into a demo tenant; nil: none.
	Seed func(ctx context.Context, demo Demo) error
	// Inbound handles the calls a tenant's ERP makes, by their type
	// ("payment.received"); nil: none.
	Inbound map[string]erpcmd.Inbound
}

// Demo is a demo tenant being seeded: its demo members by role.
type Demo struct {
	Tenant  tenant.ID
	Members map[user.Role]user.ID
	// Today is the day the demo is seeded, so its dates are recent.
	Today time.Time
}

// As is ctx acting, in the demo tenant, as its demo member of role.
func (d Demo) As(ctx context.Context, role user.Role) context.Context {
	return user.With(tenant.With(ctx, d.Tenant), user.Principal{ID: d.Members[role], Roles: []user.Role{role}})
}
