// Package sandbox is the local ERP receiver behind `atrium erp sandbox`:
// someone wiring an ERP points a tenant's webhook connection at it and
// watches each message arrive, with whether its Standard Webhooks
// signature holds. It answers as a well-behaved ERP does: 204 for a
// verified message (again 204 for one it has seen, by webhook-id), 401 for
// a bad signature, 413 for a body over the limit.
package sandbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	lru "github.com/hashicorp/golang-lru/v2"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Defaults of Config.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultRememberIDs  = 10_000
)

// ErrInvalidSecret: the secret is not "whsec_" followed by the standard
// base64 of 24 to 64 bytes. The error never holds the secret.
var ErrInvalidSecret = errors.New("sandbox: the secret must be whsec_ followed by the base64 of 24 to 64 bytes")

// Config configures a Receiver.
type Config struct {
	// Secret is the webhook secret as the tenant's ERP connection holds
	// it: "whsec_" followed by the standard base64 of 24 to 64 bytes.
	Secret []byte
	// Out receives one line per POST (see Run); required.
	Out io.Writer
	// ShowBodies prints each message's JSON body, indented, under its line.
	ShowBodies bool
	// MaxBodyBytes bounds a body; a larger one is answered 413. Default
	// DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int64
	// RememberIDs bounds how many webhook-ids are remembered to tell a
	// repeat; the oldest are forgotten first. Default DefaultRememberIDs.
	RememberIDs int
}

func (c *Config) setDefaults() {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.RememberIDs == 0 {
		c.RememberIDs = DefaultRememberIDs
	}
}

// Validate reports every problem of c.
func (c Config) Validate() error {
	var errs []error
	if _, err := parseSecret(c.Secret); err != nil {
		errs = append(errs, err)
	}
	if c.Out == nil {
		errs = append(errs, errors.New("sandbox: Out is required"))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("sandbox: MaxBodyBytes must not be negative"))
	}
	if c.RememberIDs < 0 {
		errs = append(errs, errors.New("sandbox: RememberIDs must not be negative"))
	}
	return errors.Join(errs...)
}

// parseSecret returns the key of a "whsec_..." secret.
func parseSecret(secret []byte) ([]byte, error) {
	b64, ok := bytes.CutPrefix(secret, []byte("whsec_"))
	if !ok {
		return nil, ErrInvalidSecret
	}
	key := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Decode(key, b64)
	if err != nil || n < 24 || n > 64 {
		return nil, ErrInvalidSecret
	}
	return key[:n], nil
}

// Receiver is the sandbox's http.Handler. It is safe for concurrent use;
// the lines of concurrent requests never interleave.
type Receiver struct {
	cfg  Config
	wh   *standardwebhooks.Webhook
	seen *lru.Cache[string, struct{}]
	mu   sync.Mutex // serialises writes to cfg.Out
}

// New returns a Receiver for cfg.
func New(cfg Config) (*Receiver, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	key, _ := parseSecret(cfg.Secret) // checked by Validate
	wh, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	seen, err := lru.New[string, struct{}](cfg.RememberIDs)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return &Receiver{cfg: cfg, wh: wh, seen: seen}, nil
}

// ServeHTTP takes one webhook: a POST to any path. It answers 204 when the
// signature holds (a webhook-id seen before prints "again"), 401 when it
// does not (missing headers, a webhook-timestamp more than 5 minutes from
// now, or no signature matching the body under the secret), 413 for a body
// over the limit and 405 for another method; and prints one line for each
// POST.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST webhooks here", http.StatusMethodNotAllowed)
		return
	}
	id := r.Header.Get(standardwebhooks.HeaderWebhookID)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rc.cfg.MaxBodyBytes))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			rc.print(line(id, nil, fmt.Sprintf("REFUSED: body over %d bytes", rc.cfg.MaxBodyBytes)), nil)
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		rc.print(line(id, nil, "REFUSED: body unreadable"), nil)
		http.Error(w, "body unreadable", http.StatusBadRequest)
		return
	}
	if err := rc.wh.Verify(body, r.Header); err != nil {
		reason := why(err)
		rc.print(line(id, body, "BAD SIGNATURE ("+reason+")"), body)
		http.Error(w, "invalid signature: "+reason, http.StatusUnauthorized)
		return
	}
	verdict := "signature ok"
	if seen, _ := rc.seen.ContainsOrAdd(id, struct{}{}); seen {
		verdict += ", again"
	}
	rc.print(line(id, body, verdict), body)
	w.WriteHeader(http.StatusNoContent)
}

// why says in a few words why the library refused a signature.
func why(err error) string {
	switch {
	case errors.Is(err, standardwebhooks.ErrRequiredHeaders):
		return "missing webhook-id, webhook-timestamp or webhook-signature"
	case errors.Is(err, standardwebhooks.ErrInvalidHeaders):
		return "webhook-timestamp is not unix seconds"
	case errors.Is(err, standardwebhooks.ErrMessageTooOld):
		return "webhook-timestamp more than 5 minutes ago"
	case errors.Is(err, standardwebhooks.ErrMessageTooNew):
		return "webhook-timestamp more than 5 minutes ahead"
	case errors.Is(err, standardwebhooks.ErrNoMatchingSignature):
		return "no signature matches the body under the secret"
	default:
		return "unverifiable"
	}
}

// summary is what a line shows of a message body.
type summary struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	AggregateID string          `json:"aggregate_id"`
	Position    json.RawMessage `json:"position"`
}

// line is one request: when, webhook-id, the message's type, aggregate_id
// and position (from the body, "-" when absent), and the verdict. What
// comes from the request is shown printable, so no sender can forge lines
// or drive the terminal.
func line(id string, body []byte, verdict string) string {
	var s summary
	note := ""
	if body != nil {
		if err := json.Unmarshal(body, &s); err != nil {
			note = " (body is not a JSON message)"
		} else if s.ID != "" && s.ID != id {
			note = " (body id " + printable(s.ID) + " differs)"
		}
	}
	return fmt.Sprintf("%s id=%s type=%s aggregate_id=%s position=%s %s%s\n",
		time.Now().UTC().Format(time.RFC3339), printable(id), printable(s.Type),
		printable(s.AggregateID), printable(string(s.Position)), verdict, note)
}

// print writes a line and, with ShowBodies, the body indented, in one
// write.
func (rc *Receiver) print(l string, body []byte) {
	var b strings.Builder
	b.WriteString(l)
	if rc.cfg.ShowBodies && len(body) > 0 {
		var ind bytes.Buffer
		if json.Indent(&ind, body, "    ", "  ") == nil {
			b.WriteString("    ")
			b.WriteString(printableLines(ind.String()))
			b.WriteString("\n")
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	_, _ = io.WriteString(rc.cfg.Out, b.String())
}

const maxField = 120

// printable returns s for one line: "-" when empty, quoted when it holds
// a space or anything not printable, cut at maxField bytes.
func printable(s string) string {
	if s == "" {
		return "-"
	}
	if len(s) > maxField {
		s = s[:maxField] + "…"
	}
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return r == ' ' || !unicode.IsPrint(r) }) >= 0 {
		return strconv.QuoteToGraphic(s)
	}
	return s
}

// printableLines keeps newlines and replaces every other character that is
// not printable.
func printableLines(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || unicode.IsPrint(r) {
			return r
		}
		return unicode.ReplacementChar
	}, s)
}
