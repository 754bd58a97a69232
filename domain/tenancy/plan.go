package tenancy

import (
	"regexp"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
)

// PlanCategory is the stream category of plans in the platform's log:
// "platform.plan-<name>".
const PlanCategory = "plan"

// PlanLimits are what a plan allows a tenant. A zero field sets no limit.
type PlanLimits struct {
	// Seats is how many members the tenant may have.
	Seats int `json:"seats"`
	// CommandsPerMinute bounds the tenant's commands (the API's writes):
	// past it, 429 quota_exceeded until the minute has room again.
	CommandsPerMinute int `json:"commands_per_minute"`
	// ConcurrentRequests is how many of its requests are served at once.
	ConcurrentRequests int `json:"concurrent_requests"`
	// DocumentBytes bounds the bytes of the documents (receipts) it keeps.
	DocumentBytes int64 `json:"document_bytes"`
	// ERPMessagesPerDay bounds the messages exchanged with the tenant's
	// ERP a day (UTC): those delivered to it and its calls back. Past it,
	// deliveries wait for the next day and calls back are answered 429
	// quota_exceeded.
	ERPMessagesPerDay int64 `json:"erp_messages_per_day"`
}

// Plan is a plan of the platform's catalog.
type Plan struct {
	Name   string
	Limits PlanLimits
	At     time.Time
}

// Exists reports whether the plan was defined.
func (p Plan) Exists() bool { return p.Name != "" }

type (
	// PlanDefined: the platform defined a plan, or changed its limits; every
	// tenant on it has them from then on.
	PlanDefined struct {
		Name   string     `json:"name"`
		Limits PlanLimits `json:"limits"`
		By     string     `json:"by"`
		At     time.Time  `json:"at"`
	}
	// PlanChanged: the platform put the tenant on a plan.
	PlanChanged struct {
		Tenant tenant.ID `json:"tenant"`
		Plan   string    `json:"plan"`
		By     string    `json:"by"`
		At     time.Time `json:"at"`
	}
)

func (PlanDefined) EventName() string { return "plan.defined.v1" }
func (PlanChanged) EventName() string { return "tenant.plan_changed.v1" }

var planName = regexp.MustCompile(`^[a-z][a-z0-9-]{1,30}$`)

// Plan limit bounds: enough for any one company, small enough that a typo
// does not hand one tenant the whole service.
const (
	maxSeats             = 1_000_000
	maxCommandsPerMinute = 6_000_000
	maxDocumentBytes     = 1 << 50 // 1 PiB
	maxERPMessagesPerDay = 1_000_000_000
)

// ValidPlanName checks a plan's name.
func ValidPlanName(name string) error {
	if !planName.MatchString(name) {
		return domain.Invalidf("name", "invalid_plan", "a plan's name is 2 to 31 lower-case letters, digits and dashes, starting with a letter")
	}
	return nil
}

// Validate checks l, naming the field at fault.
func (l PlanLimits) Validate() error {
	switch {
	case l.Seats < 0 || l.Seats > maxSeats:
		return domain.Invalidf("seats", "invalid_limit", "seats must be from 0 (no limit) to %d", maxSeats)
	case l.CommandsPerMinute < 0 || l.CommandsPerMinute > maxCommandsPerMinute:
		return domain.Invalidf("commands_per_minute", "invalid_limit", "commands_per_minute must be from 0 (no limit) to %d", maxCommandsPerMinute)
	case l.DocumentBytes < 0 || l.DocumentBytes > maxDocumentBytes:
		return domain.Invalidf("document_bytes", "invalid_limit", "document_bytes must be from 0 (no limit) to %d", int64(maxDocumentBytes))
	case l.ERPMessagesPerDay < 0 || l.ERPMessagesPerDay > maxERPMessagesPerDay:
		return domain.Invalidf("erp_messages_per_day", "invalid_limit", "erp_messages_per_day must be from 0 (no limit) to %d", maxERPMessagesPerDay)
	case l.ConcurrentRequests < 0 || l.ConcurrentRequests > maxConcurrent:
		return domain.Invalidf("concurrent_requests", "invalid_limit", "concurrent_requests must be from 0 (no limit of the plan's) to %d", maxConcurrent)
	}
	return nil
}

// DecidePlan defines the plan p names, or changes its limits.
func DecidePlan(p Plan, name string, l PlanLimits, by string, at time.Time) ([]domain.Event, error) {
	if err := ValidPlanName(name); err != nil {
		return nil, err
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if p.Exists() && p.Limits == l {
		return nil, nil
	}
	return []domain.Event{PlanDefined{Name: name, Limits: l, By: by, At: at.UTC()}}, nil
}

// EvolvePlan applies one event to a plan.
func EvolvePlan(p Plan, e domain.Event) Plan {
	if e, ok := e.(PlanDefined); ok {
		p = Plan{Name: e.Name, Limits: e.Limits, At: e.At}
	}
	return p
}

// DecidePlanChange puts a tenant on plan p ("" takes it off every plan).
func DecidePlanChange(s State, p Plan, by string, at time.Time) ([]domain.Event, error) {
	if err := s.served(); err != nil {
		return nil, err
	}
	if s.Plan == p.Name {
		return nil, nil
	}
	return []domain.Event{PlanChanged{Tenant: s.ID, Plan: p.Name, By: by, At: at.UTC()}}, nil
}

// WithPlan returns l with the fields the tenant's own limits leave zero
// taken from its plan's: the platform's limits for one tenant come first,
// then its plan's, then the machine's defaults (Or).
func (l Limits) WithPlan(p PlanLimits) Limits {
	if l.ConcurrentRequests <= 0 {
		l.ConcurrentRequests = p.ConcurrentRequests
	}
	return l
}
