// Package usage is what a tenant used, day by day (UTC), for billing:
// the commands, events and API requests it made, the ERP messages
// exchanged, its active members, and what it stores. Everything but the
// API requests and the stored sizes is derived from the tenant's own log;
// the requests are counted by each instance and written to the log as
// RequestsCounted, the sizes measured when the day is closed. A closed day
// is a DayClosed event in "<tenant>.billing-<day>", written once whatever
// the number of instances, and that record, frozen, is what billing is
// sent.
package usage

import (
	"fmt"
	"strings"
	"time"
)

// Stream categories: "<tenant>.usage-<day>" holds the API requests
// counted on the day; "<tenant>.billing-<day>" its close and report.
const (
	Category        = "usage"
	BillingCategory = "billing"
)

// ERPCaller is the user id the calls of a tenant's ERP are recorded
// under: a command of theirs is an ERP message, not a member's.
const ERPCaller = "erp"

// dayLayout is a day's form: 2026-12-07.
const dayLayout = time.DateOnly

// Day is the UTC day of t, as "2006-01-02".
func Day(t time.Time) string { return t.UTC().Format(dayLayout) }

// ParseDay parses a day as Day writes it.
func ParseDay(s string) (time.Time, error) {
	t, err := time.Parse(dayLayout, s)
	if err != nil || Day(t) != s {
		return time.Time{}, fmt.Errorf("usage: %q is not a day (YYYY-MM-DD)", s)
	}
	return t, nil
}

// Bookkeeping reports whether an event of this type is the platform's own
// record about the tenant (usage, billing, audit heads, the record of a
// keyed command's answer, its security log: a stranger's failed attempt is
// not the tenant's work) rather than the tenant's work: it is not counted
// as an event or a command.
func Bookkeeping(eventType string) bool {
	for _, p := range [...]string{"usage.", "audit.", "security.", "command."} {
		if strings.HasPrefix(eventType, p) {
			return true
		}
	}
	return false
}

// Record is a tenant's usage of one day. Counters cover the day; sizes
// (DocumentBytes, ReadDatabaseBytes, Members) are what was stored when
// the day was closed, or, for a day not yet closed, now.
type Record struct {
	// ID identifies the record to billing (the webhook's id): the same
	// day of the same tenant has the same id, however often it is sent.
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Day    string `json:"day"`
	// Commands the tenant's members and its ERP ran that wrote events.
	Commands int64 `json:"commands"`
	// Events the commands wrote, and the bytes of their data.
	Events     int64 `json:"events"`
	EventBytes int64 `json:"event_bytes"`
	// APIRequests the tenant's authenticated callers made (admitted).
	APIRequests int64 `json:"api_requests"`
	// ERPMessages: those delivered to the tenant's ERP that day and the
	// ERP's calls back that wrote something.
	ERPMessages int64 `json:"erp_messages"`
	// ActiveMembers ran at least one command that day.
	ActiveMembers     int64 `json:"active_members"`
	Members           int64 `json:"members"`
	DocumentBytes     int64 `json:"document_bytes"`
	ReadDatabaseBytes int64 `json:"read_database_bytes"`
	// Closed is when the day was closed; zero while it is open.
	Closed time.Time `json:"closed_at,omitzero"`
}

// RecordID is the id of t's record of day.
func RecordID(t, day string) string { return "usage_" + t + "_" + day }

type (
	// RequestsCounted: an instance served Requests more API requests of
	// the tenant on Day (a delta since its previous count).
	RequestsCounted struct {
		Day      string `json:"day"`
		Requests int64  `json:"requests"`
		Instance string `json:"instance"`
	}
	// DayClosed: the tenant's usage of a day, as billing is sent it.
	DayClosed struct {
		Record Record `json:"record"`
	}
	// DayReported: the operator's billing endpoint took the day's record.
	DayReported struct {
		Day string    `json:"day"`
		ID  string    `json:"id"`
		At  time.Time `json:"at"`
	}
)

func (RequestsCounted) EventName() string { return "usage.requests_counted.v1" }
func (DayClosed) EventName() string       { return "usage.day_closed.v1" }
func (DayReported) EventName() string     { return "usage.day_reported.v1" }
