package http

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

// decimal reports whether s is a non-negative decimal integer that fits in
// 64 bits, and its value; written without strconv so the two can disagree.
func decimal(s string) (uint64, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || !n.IsUint64() {
		return 0, false
	}
	return n.Uint64(), true
}

// strictETag reports whether s is an entity tag as the API writes them
// ("3", W/"3") or a bare version (3), and the version.
func strictETag(s string) (uint64, bool) {
	s = strings.TrimPrefix(s, "W/")
	if q, ok := strings.CutPrefix(s, `"`); ok {
		if s, ok = strings.CutSuffix(q, `"`); !ok {
			return 0, false
		}
	}
	return decimal(s)
}

// FuzzParseETag parses arbitrary If-Match values: every entity tag the API
// writes, weak or strong, gives its version back; a value accepted holds
// nothing but the version's digits, quotes and a W/ prefix, and its digits
// are the version.
func FuzzParseETag(f *testing.F) {
	for _, s := range []string{`"3"`, `W/"3"`, `3`, `"three"`, `"-1"`, `"+1"`, `"99999999999999999999"`, `"18446744073709551615"`,
		`"1", "2"`, `*`, `""`, `"`, `W/`, `w/"3"`, `"0x10"`, `"1_000"`, `"٣"`, "\"3\x00\"", "\xff", strings.Repeat("9", 12<<10)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseETag(s)
		if want, ok := strictETag(s); ok && (err != nil || uint64(v) != want) {
			t.Fatalf("parseETag(%q) = %d, %v, want %d", s, v, err, want)
		}
		if err != nil {
			return
		}
		digits := strings.Trim(strings.TrimPrefix(s, "W/"), `"`)
		if n, ok := decimal(digits); !ok || n != uint64(v) {
			t.Fatalf("parseETag(%q) = %d, but %q is not that version", s, v, digits)
		}
		if back, err := parseETag(etag(uint64(v))); err != nil || back != v {
			t.Fatalf("version %d is written %s, which parses to %d, %v", v, etag(uint64(v)), back, err)
		}
	})
}

// FuzzParsePosition parses arbitrary X-Read-After values: exactly the
// decimal integers that fit in 64 bits are positions, and a position
// written back parses to itself.
func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{"0", "42", "-1", "+1", "1.5", "1e3", "0x10", "1_000", " 1", "18446744073709551615", "18446744073709551616",
		"9e18", "٣", "\x00", "\xff", "", strings.Repeat("0", 12<<10) + "1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pos, err := parsePosition(s)
		want, ok := decimal(s)
		if ok != (err == nil) || (ok && uint64(pos) != want) {
			t.Fatalf("parsePosition(%q) = %d, %v", s, pos, err)
		}
		if ok {
			if back, err := parsePosition(formatUint(uint64(pos))); err != nil || back != pos {
				t.Fatalf("position %d is written %s, which parses to %d, %v", pos, formatUint(uint64(pos)), back, err)
			}
		}
	})
}

// fuzzProgress is projections that have reached a fixed position.
type fuzzProgress struct{ at streams.Position }

// WaitFor implements Progress without waiting: a position not reached is
// ErrLagging at once.
func (p fuzzProgress) WaitFor(_ context.Context, pos streams.Position) error {
	if pos > p.at {
		return projections.ErrLagging
	}
	return nil
}

// Position implements Progress.
func (p fuzzProgress) Position(context.Context) (streams.Position, error) { return p.at, nil }

// seenKey is the response header in which FuzzCommandHeaders' route tells
// which header values it was given, so the test judges what the API saw.
const seenKey = "X-Fuzz-Seen"

type seenHeaders struct {
	IfMatch, IdempotencyKey, ReadAfter string
}

// FuzzCommandHeaders sends a command with arbitrary If-Match,
// Idempotency-Key and X-Read-After headers through the API's middleware,
// the read-your-writes step and request: each value is refused with its
// own problem code, or taken as it says (the version, the key and the hash
// of this request, the position), never a server error but for a position
// the projections have not reached.
func FuzzCommandHeaders(f *testing.F) {
	const reached = 100
	a, app, log := fuzzAPI(f, Infra{Progress: fuzzProgress{at: reached}})
	const pattern = "/fuzz/invoices/:id/issue"
	app.Post(pattern, func(c *fiber.Ctx) error {
		seen, _ := json.Marshal(seenHeaders{c.Get(fiber.HeaderIfMatch), c.Get("Idempotency-Key"), c.Get("X-Read-After")})
		c.Set(seenKey, base64.StdEncoding.EncodeToString(seen))
		return c.Next()
	}, a.readAfter, func(c *fiber.Ctx) error {
		req, err := Options(c)
		if err != nil {
			return err
		}
		out := map[string]any{"command_id": req.CommandID, "request_hash": req.RequestHash}
		if req.IfMatch != nil {
			out["if_match"] = uint64(*req.IfMatch)
		}
		return WriteJSON(c, fiber.StatusOK, out)
	})
	for _, s := range []struct{ ifMatch, key, readAfter string }{
		{`"3"`, "k-1", "100"},
		{`W/"3"`, "", "0"},
		{"", "", ""},
		{`"18446744073709551615"`, " k ", "101"},
		{`"18446744073709551616"`, "k", "18446744073709551616"},
		{`*`, strings.Repeat("k", 200), ""},
		{`"1", "2"`, strings.Repeat("k", 201), "1"},
		{`"3"`, strings.Repeat("é", 101), ""},
		{"\"3\x00\"", "k\x00", ""},
		{"\xff", "\xff\xfe", "1"},
		{"", "", "-1"},
		{"", "", "9e18"},
		{"", "", "1.5"},
		{"", "", "\x00"},
		{"", "", "\xff"},
		{`"""3`, "k", "0100"},
		{`"` + strings.Repeat("9", 12<<10) + `"`, "k", "1"},
		{`"1"`, strings.Repeat("k", 12<<10), ""},
		{"", "", strings.Repeat("0", 12<<10) + "1"},
	} {
		f.Add(s.ifMatch, s.key, s.readAfter)
	}
	body := []byte(`{}`)
	f.Fuzz(func(t *testing.T, ifMatch, key, readAfter string) {
		log.Reset()
		r, ok := fuzzDo(t, app, "POST", "/fuzz/invoices/i-1/issue", body, "",
			fiber.HeaderIfMatch, ifMatch, "Idempotency-Key", key, "X-Read-After", readAfter)
		if !ok {
			return
		}
		code := r.clientError(t, log, "projection_lagging")
		raw, err := base64.StdEncoding.DecodeString(r.header[seenKey])
		var seen seenHeaders
		if err != nil || json.Unmarshal(raw, &seen) != nil {
			if r.status == fiber.StatusNotFound || r.status == fiber.StatusMethodNotAllowed {
				return // routed nowhere: a request line fasthttp read otherwise
			}
			t.Fatalf("%d %s without the headers seen", r.status, r.body)
		}

		want := wantCommandHeaders(seen, reached)
		if code != want {
			t.Fatalf("If-Match %q, Idempotency-Key %q, X-Read-After %q: %d %s, want %q", seen.IfMatch, seen.IdempotencyKey, seen.ReadAfter, r.status, r.body, want)
		}
		if code != "" {
			return
		}
		var got struct {
			CommandID   string  `json:"command_id"`
			RequestHash string  `json:"request_hash"`
			IfMatch     *uint64 `json:"if_match"`
		}
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatalf("answer %s: %v", r.body, err)
		}
		if k := strings.TrimSpace(seen.IdempotencyKey); k != "" {
			if got.CommandID != k || got.RequestHash != requestHash("", "POST", pattern, "id=i-1\x00", body) {
				t.Fatalf("Idempotency-Key %q: command %q, hash %q", seen.IdempotencyKey, got.CommandID, got.RequestHash)
			}
		} else if _, err := uuid.Parse(got.CommandID); err != nil || got.RequestHash != "" {
			t.Fatalf("no Idempotency-Key: command %q, hash %q", got.CommandID, got.RequestHash)
		}
		im := strings.TrimSpace(seen.IfMatch)
		switch v, strict := strictETag(im); {
		case im == "" && got.IfMatch != nil:
			t.Fatalf("no If-Match, but version %d", *got.IfMatch)
		case im != "" && got.IfMatch == nil:
			t.Fatalf("If-Match %q was dropped", seen.IfMatch)
		case strict && *got.IfMatch != v:
			t.Fatalf("If-Match %q taken as version %d", seen.IfMatch, *got.IfMatch)
		}
		if p := r.header["X-Projection-Position"]; p != strconv.Itoa(reached) {
			t.Fatalf("X-Projection-Position %q, want %d", p, reached)
		}
	})
}

// wantCommandHeaders is the problem code the headers seen must give, in
// the order they are checked ("" for none).
func wantCommandHeaders(seen seenHeaders, reached uint64) string {
	if seen.ReadAfter != "" {
		pos, ok := decimal(seen.ReadAfter)
		switch {
		case !ok:
			return "invalid_read_after"
		case pos > reached:
			return "projection_lagging"
		}
	}
	if k := strings.TrimSpace(seen.IdempotencyKey); len(k) > 200 {
		return "invalid_idempotency_key"
	}
	if im := strings.TrimSpace(seen.IfMatch); im != "" {
		if _, err := parseETag(im); err != nil {
			return "invalid_if_match"
		}
	}
	return ""
}
