package streams

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/domain/tenant"
)

// TenantOf returns the ctx tenant (tenant.ErrNoTenant when there is none)
// and checks that every stream named is a valid name of it
// (ErrTenantMismatch otherwise). Every Store starts with it.
func TenantOf(ctx context.Context, names ...Name) (tenant.ID, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return "", err
	}
	for _, n := range names {
		if _, err := ParseName(string(n)); err != nil {
			return "", err
		}
		if n.Tenant() != t {
			return "", fmt.Errorf("%w: %s in tenant %s", ErrTenantMismatch, n, t)
		}
	}
	return t, nil
}

// CheckAppends validates an append before a store sends anything, the
// same way for every store: streams of the ctx tenant, each named once,
// each with events, every event with an id given once, a type, no
// metadata of another tenant and no line break in a metadata value. It
// returns the ctx tenant and the number of events.
func CheckAppends(ctx context.Context, appends []Append) (tenant.ID, int, error) {
	names := make([]Name, len(appends))
	for i, a := range appends {
		names[i] = a.Stream
	}
	t, err := TenantOf(ctx, names...)
	if err != nil {
		return "", 0, err
	}
	if len(appends) == 0 {
		return "", 0, errors.New("append: no stream")
	}
	var errs []error
	// The sets of streams and ids seen: none is needed for one event.
	var (
		streamsSeen map[Name]bool
		ids         map[uuid.UUID]bool
	)
	if len(appends) > 1 || len(appends[0].Events) > 1 {
		streamsSeen = make(map[Name]bool, len(appends))
		ids = map[uuid.UUID]bool{}
	}
	total := 0
	for _, a := range appends {
		if streamsSeen[a.Stream] {
			errs = append(errs, fmt.Errorf("stream %s named twice", a.Stream))
		}
		if streamsSeen != nil {
			streamsSeen[a.Stream] = true
		}
		if len(a.Events) == 0 {
			errs = append(errs, fmt.Errorf("no event for %s", a.Stream))
		}
		total += len(a.Events)
		for _, e := range a.Events {
			switch {
			case e.ID == uuid.Nil:
				errs = append(errs, fmt.Errorf("event of type %q for %s has no id", e.Type, a.Stream))
			case ids[e.ID]:
				errs = append(errs, fmt.Errorf("event id %s given twice", e.ID))
			}
			if ids != nil {
				ids[e.ID] = true
			}
			if e.Metadata.Tenant != "" && e.Metadata.Tenant != t {
				return "", 0, fmt.Errorf("%w: event %s has tenant %s in tenant %s", ErrTenantMismatch, e.ID, e.Metadata.Tenant, t)
			}
			if e.Type == "" {
				errs = append(errs, fmt.Errorf("event %s has no type", e.ID))
			}
			md := e.Metadata
			for _, v := range []string{e.Type, md.UserID, md.CorrelationID, md.CausationID, md.CommandID, md.RequestHash} {
				if strings.ContainsAny(v, "\r\n") {
					errs = append(errs, fmt.Errorf("event %s: a line break in %q", e.ID, v))
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", 0, fmt.Errorf("append: %w", err)
	}
	return t, total, nil
}
