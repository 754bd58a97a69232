package streams

import (
	"errors"
	"fmt"
	"strings"

	"github.com/atrium-platform/atrium/domain/tenant"
)

// Name is a stream name: "<tenant>.<aggregate>-<id>", for example
// "acme.invoice-0b9f1c1e-8a51-4a39-9f69-6a3c1c4ae0f5".
type Name string

// ErrInvalidName is returned for a stream name that does not parse.
var ErrInvalidName = errors.New("streams: invalid stream name")

// isAggregate reports whether s matches ^[a-z][a-z0-9]{0,31}$, and isID
// whether it matches ^[A-Za-z0-9_-]{1,100}$: names are checked on every
// command and append, without a regular expression.
func isAggregate(s string) bool {
	if len(s) < 1 || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func isID(s string) bool {
	if len(s) < 1 || len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// NewName builds the name of the stream of aggregate id in tenant t.
// The aggregate is a lower-case word without dashes; the id may hold
// letters, digits, '-' and '_' (a UUID, a year, a key hash).
func NewName(t tenant.ID, aggregate, id string) (Name, error) {
	if _, err := tenant.Parse(string(t)); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidName, err)
	}
	if !isAggregate(aggregate) {
		return "", fmt.Errorf("%w: aggregate %q", ErrInvalidName, aggregate)
	}
	if !isID(id) {
		return "", fmt.Errorf("%w: id %q", ErrInvalidName, id)
	}
	return Name(string(t) + "." + aggregate + "-" + id), nil
}

// ParseName validates s as a stream name.
func ParseName(s string) (Name, error) {
	t, rest, ok := strings.Cut(s, ".")
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrInvalidName, s)
	}
	agg, id, ok := strings.Cut(rest, "-")
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrInvalidName, s)
	}
	return NewName(tenant.ID(t), agg, id)
}

// Tenant returns the tenant part of the name.
func (n Name) Tenant() tenant.ID {
	t, _, _ := strings.Cut(string(n), ".")
	return tenant.ID(t)
}

// Aggregate returns the aggregate part ("invoice").
func (n Name) Aggregate() string {
	_, rest, _ := strings.Cut(string(n), ".")
	agg, _, _ := strings.Cut(rest, "-")
	return agg
}

// ID returns the id part, after the first dash following the tenant.
func (n Name) ID() string {
	_, rest, _ := strings.Cut(string(n), ".")
	_, id, _ := strings.Cut(rest, "-")
	return id
}

func (n Name) String() string { return string(n) }
