package http

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/atrium-platform/atrium/commands"
	identitycmd "github.com/atrium-platform/atrium/commands/identity"
	tenancycmd "github.com/atrium-platform/atrium/commands/tenancy"
	"github.com/atrium-platform/atrium/documents"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

// Problem is an RFC 9457 problem document with a stable snake_case code.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
	Field  string `json:"field,omitempty"`
	// RetryAfter, in seconds, is sent as the Retry-After header when set.
	RetryAfter int `json:"-"`
}

func (p *Problem) Error() string { return p.Code + ": " + p.Detail }

func NewProblem(status int, code, detail string) *Problem {
	return &Problem{Type: "/problems/" + code, Title: http.StatusText(status), Status: status, Detail: detail, Code: code}
}

func FieldProblem(field, detail string) *Problem {
	p := NewProblem(http.StatusBadRequest, "invalid_request", detail)
	p.Field = field
	return p
}

// kindProblem is how a kind of domain error is answered, with the code
// used when the error has none.
func kindProblem(k domain.Kind) (status int, code string) {
	switch k {
	case domain.Invalid:
		return http.StatusBadRequest, "invalid_request"
	case domain.WrongState:
		return http.StatusConflict, "invalid_state"
	case domain.NotFound:
		return http.StatusNotFound, "not_found"
	case domain.Forbidden:
		return http.StatusForbidden, "forbidden"
	}
	return http.StatusUnprocessableEntity, "rejected"
}

// problemOf translates an error from below into what the client sees. The
// second result is false for errors the client could not have caused: they
// are logged and answered 500 without details.
func problemOf(err error) (*Problem, bool) {
	var p *Problem
	var de *domain.Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &p):
		return p, true
	case errors.As(err, &de):
		status, code := kindProblem(de.Kind)
		if de.Code != "" {
			code = de.Code
		}
		out := NewProblem(status, code, de.Message)
		out.Field = de.Field
		return out, true
	case errors.Is(err, commands.ErrVersionConflict):
		return NewProblem(http.StatusPreconditionFailed, "version_conflict", "the resource changed since the version given in If-Match"), true
	case errors.Is(err, commands.ErrIdempotencyKeyReused):
		return NewProblem(http.StatusUnprocessableEntity, "idempotency_key_reused", "this Idempotency-Key was used for another request"), true
	case errors.Is(err, commands.ErrContention):
		return NewProblem(http.StatusConflict, "concurrent_modification", "the resource is being changed by others; try again"), true
	case errors.Is(err, projections.ErrBadCursor):
		return NewProblem(http.StatusBadRequest, "invalid_cursor", "the cursor is not one this list gave"), true
	case errors.Is(err, projections.ErrLagging):
		p := NewProblem(http.StatusServiceUnavailable, "projection_lagging", "the read model has not reached the requested position yet")
		p.RetryAfter = 1
		return p, true
	case errors.Is(err, tenancycmd.ErrBillingRefused):
		// Billing is the operator's own endpoint: its answer is shown.
		return NewProblem(http.StatusFailedDependency, "billing_refused", err.Error()+"; nothing was deleted"), true
	case errors.Is(err, tenancycmd.ErrBillingUnreachable):
		p := NewProblem(http.StatusServiceUnavailable, "billing_unreachable", "billing did not take the tenant's last usage; nothing was deleted: try again")
		p.RetryAfter = 60
		return p, true
	case errors.Is(err, projections.ErrTooManyAnalystLogins):
		p := NewProblem(http.StatusTooManyRequests, "too_many_analyst_logins", "the tenant has as many unexpired analysts' logins as allowed; wait for one to expire")
		p.RetryAfter = 3600
		return p, true
	case errors.Is(err, projections.ErrNotFound), errors.Is(err, documents.ErrNotFound):
		return NewProblem(http.StatusNotFound, "not_found", "no such resource"), true
	case errors.Is(err, tenant.ErrNoTenant):
		return NewProblem(http.StatusBadRequest, "tenant_required", "this route needs a tenant: use the tenant's host name or the X-Tenant header"), true
	case errors.Is(err, user.ErrNoPrincipal):
		return NewProblem(http.StatusUnauthorized, "unauthorized", "authentication required"), true
	case errors.Is(err, streams.ErrUnknownTenant), errors.Is(err, projections.ErrDropped), errors.Is(err, documents.ErrDropped): // a request under way when its tenant was deleted
		return NewProblem(http.StatusNotFound, "tenant_not_found", "no such tenant"), true
	case errors.As(err, new(*CrossTenant)):
		return NewProblem(http.StatusForbidden, "tenant_mismatch", "this token was issued for another tenant"), true
	case errors.Is(err, identitycmd.ErrBusy):
		p := NewProblem(http.StatusServiceUnavailable, "busy", "too many sign-ins are being checked; retry shortly")
		p.RetryAfter = 1
		return p, true
	case errors.Is(err, streams.ErrUnknownPosition):
		return NewProblem(http.StatusBadRequest, "invalid_position", "no event of this tenant is at that position: use one a list or an event gave"), true
	case errors.Is(err, streams.ErrTooLarge):
		return NewProblem(http.StatusRequestEntityTooLarge, "payload_too_large", "the change is larger than the event store takes in one append"), true
	case errors.Is(err, streams.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		p := NewProblem(http.StatusServiceUnavailable, "unavailable", "a dependency did not answer in time; try again")
		p.RetryAfter = 1
		return p, true
	case errors.As(err, &fe):
		switch fe.Code {
		case http.StatusNotFound:
			return NewProblem(fe.Code, "not_found", "no such route"), true
		case http.StatusMethodNotAllowed:
			return NewProblem(fe.Code, "method_not_allowed", "this route does not accept that method"), true
		case http.StatusRequestEntityTooLarge:
			return NewProblem(fe.Code, "payload_too_large", "the request body is over the limit"), true
		case http.StatusBadRequest:
			return NewProblem(fe.Code, "invalid_request", fe.Message), true
		case http.StatusRequestTimeout:
			return NewProblem(fe.Code, "request_timeout", "the request took too long to arrive"), true
		}
		if fe.Code < 500 {
			return NewProblem(fe.Code, "invalid_request", fe.Message), true
		}
	}
	return NewProblem(http.StatusInternalServerError, "internal", "something went wrong on our side; it has been logged"), false
}

func writeProblem(c *fiber.Ctx, p *Problem) error {
	c.Status(p.Status)
	if p.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(p.RetryAfter))
	}
	c.Set(fiber.HeaderContentType, "application/problem+json")
	body, err := jsonMarshal(p)
	if err != nil {
		return fmt.Errorf("problem: %w", err)
	}
	return c.Send(body)
}
