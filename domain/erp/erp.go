// Package erp is a tenant's link to its ERP: where its messages go (a
// signed webhook, or a staging table in the ERP's own SQL Server or
// PostgreSQL database), which kinds of events become messages, and the
// operator's requests to send messages again. One connection per tenant,
// in "<tenant>.erp-connection". Secrets (a webhook's signing secret, a
// database password) are never in these events: a change records the
// secret's fingerprint, and the secret is kept sealed elsewhere under it.
package erp

import (
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/atrium-platform/atrium/domain"
)

// Category is the stream category of the connection; ConnectionID its id.
const (
	Category     = "erp"
	ConnectionID = "connection"
)

// Kind is how messages reach the ERP.
type Kind string

// The kinds of connection.
const (
	Webhook   Kind = "webhook"
	SQLServer Kind = "sqlserver"
	Postgres  Kind = "postgres"
)

// Status is whether messages are being sent.
type Status string

// The statuses of a connection.
const (
	StatusNotConfigured Status = "not_configured"
	StatusActive        Status = "active"
	StatusStopped       Status = "stopped"
)

// Events.
type (
	// ConnectionSet: the tenant's ERP target changed. Target is the webhook
	// URL, or the database's host and name (never its credentials).
	ConnectionSet struct {
		Kind   Kind     `json:"kind"`
		Target string   `json:"target"`
		Table  string   `json:"table,omitempty"`
		Events []string `json:"events"`
		// Mappings are the tenant's own codes for what its ERP names
		// differently (accounts, tax codes), handed to its connector.
		Mappings map[string]string `json:"mappings,omitempty"`
		// SecretFingerprint names the sealed secret (signing secret or
		// DSN) this connection uses.
		SecretFingerprint string    `json:"secret_fingerprint"`
		By                string    `json:"by"`
		At                time.Time `json:"at"`
	}
	// ConnectionRemoved: no more messages are sent; what is pending stays.
	ConnectionRemoved struct {
		By string    `json:"by"`
		At time.Time `json:"at"`
	}
	// ResyncRequested: the messages of the events from FromPosition on are
	// to be sent again.
	ResyncRequested struct {
		FromPosition uint64    `json:"from_position"`
		By           string    `json:"by"`
		At           time.Time `json:"at"`
	}
	// MessageRetryRequested: a message parked as failed is to be sent again.
	MessageRetryRequested struct {
		MessageID string    `json:"message_id"`
		By        string    `json:"by"`
		At        time.Time `json:"at"`
	}
)

func (ConnectionSet) EventName() string         { return "erp.connection_set.v1" }
func (ConnectionRemoved) EventName() string     { return "erp.connection_removed.v1" }
func (ResyncRequested) EventName() string       { return "erp.resync_requested.v1" }
func (MessageRetryRequested) EventName() string { return "erp.message_retry_requested.v1" }

// Connection is the tenant's connection, folded from its events.
type Connection struct {
	Kind              Kind
	Target            string
	Table             string
	Events            []string
	Mappings          map[string]string
	SecretFingerprint string
	Status            Status
	// Generation counts resyncs, so messages sent again are told from the
	// first sending by the transport (the ERP still sees the same id).
	Generation int
}

// Evolve applies one event.
func Evolve(c Connection, e domain.Event) Connection {
	switch e := e.(type) {
	case ConnectionSet:
		c.Kind, c.Target, c.Table, c.Events, c.Mappings, c.SecretFingerprint, c.Status = e.Kind, e.Target, e.Table, e.Events, e.Mappings, e.SecretFingerprint, StatusActive
	case ConnectionRemoved:
		c.Status = StatusStopped
	case ResyncRequested:
		c.Generation++
	}
	return c
}

// Fold rebuilds a connection from its events.
func Fold(evs []domain.Event) Connection {
	c := Connection{Status: StatusNotConfigured}
	for _, e := range evs {
		c = Evolve(c, e)
	}
	return c
}

// Sends reports whether events of category become messages.
func (c Connection) Sends(category string) bool {
	return c.Status == StatusActive && slices.Contains(c.Events, category)
}

// MaxMappings bounds a connection's mappings.
const MaxMappings = 500

var mappingKey = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,100}$`)

var table = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$`)

// Set is the command to point the tenant's ERP connection somewhere.
type Set struct {
	Kind Kind
	// Target is the webhook URL, or the database's host and name as the
	// DSN names them (the DSN itself is a secret).
	Target string
	Table  string
	Events []string
	// Kinds are the event kinds (stream categories) that may be sent.
	Kinds             []string
	Mappings          map[string]string
	SecretFingerprint string
	By                string
	At                time.Time
}

// DecideSet validates a connection and returns its event; setting what is
// set already changes nothing.
func DecideSet(c Connection, s Set) ([]domain.Event, error) {
	switch s.Kind {
	case Webhook:
		u, err := url.Parse(s.Target)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || len(s.Target) > 2000 {
			return nil, domain.Invalidf("url", "invalid_url", "url must be an http(s) URL with a host and no credentials")
		}
		if s.Table != "" {
			return nil, domain.Invalidf("table", "invalid_request", "a webhook has no table")
		}
	case SQLServer, Postgres:
		if !table.MatchString(s.Table) {
			return nil, domain.Invalidf("table", "invalid_table", "table must be a name of letters, digits and underscores, optionally schema.table")
		}
	default:
		return nil, domain.Invalidf("kind", "invalid_kind", "kind must be webhook, sqlserver or postgres")
	}
	if len(s.Events) == 0 {
		return nil, domain.Invalidf("events", "invalid_events", "events must name at least one kind of event")
	}
	events := make([]string, 0, len(s.Events))
	for _, k := range s.Events {
		k = strings.TrimSpace(k)
		if !slices.Contains(s.Kinds, k) {
			return nil, domain.Invalidf("events", "invalid_events", "%q is not a kind of event: one of %s", k, strings.Join(s.Kinds, ", "))
		}
		if !slices.Contains(events, k) {
			events = append(events, k)
		}
	}
	slices.Sort(events)
	if len(s.Mappings) > MaxMappings {
		return nil, domain.Invalidf("mappings", "invalid_mappings", "at most %d mappings", MaxMappings)
	}
	for k, v := range s.Mappings {
		if !mappingKey.MatchString(k) || len(v) > 200 || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
			return nil, domain.Invalidf("mappings", "invalid_mappings", "a mapping is a key of letters, digits, '_', '.', ':' or '-' (at most 100) and a value of at most 200 characters")
		}
	}
	if len(s.Mappings) == 0 {
		s.Mappings = nil
	}
	if s.SecretFingerprint == "" {
		return nil, domain.Invalidf("secret", "required", "a secret is required")
	}
	ev := ConnectionSet{Kind: s.Kind, Target: s.Target, Table: s.Table, Events: events, Mappings: s.Mappings, SecretFingerprint: s.SecretFingerprint, By: s.By, At: s.At.UTC()}
	if c.Status == StatusActive && c.Kind == ev.Kind && c.Target == ev.Target && c.Table == ev.Table &&
		slices.Equal(c.Events, ev.Events) && maps.Equal(c.Mappings, ev.Mappings) && c.SecretFingerprint == ev.SecretFingerprint {
		return nil, nil
	}
	return []domain.Event{ev}, nil
}

// DecideRemove stops sending; removing what is not there changes nothing.
func DecideRemove(c Connection, by string, at time.Time) ([]domain.Event, error) {
	if c.Status != StatusActive {
		return nil, nil
	}
	return []domain.Event{ConnectionRemoved{By: by, At: at.UTC()}}, nil
}

// DecideResync asks for the messages from a position on to be sent again.
func DecideResync(c Connection, from uint64, by string, at time.Time) ([]domain.Event, error) {
	if c.Status != StatusActive {
		return nil, domain.WrongStatef("erp_not_configured", "the tenant has no ERP connection to send to")
	}
	return []domain.Event{ResyncRequested{FromPosition: from, By: by, At: at.UTC()}}, nil
}

// DecideRetry asks for a message parked as failed to be sent again.
func DecideRetry(c Connection, messageID string, failed bool, by string, at time.Time) ([]domain.Event, error) {
	if c.Status != StatusActive {
		return nil, domain.WrongStatef("erp_not_configured", "the tenant has no ERP connection to send to")
	}
	if !failed {
		return nil, domain.WrongStatef("invalid_state", "only a message that failed can be retried")
	}
	return []domain.Event{MessageRetryRequested{MessageID: messageID, By: by, At: at.UTC()}}, nil
}
