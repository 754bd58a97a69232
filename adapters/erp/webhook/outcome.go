package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/atrium-platform/atrium/projections/erpsync"
)

// MaxRetryAfter caps the wait a target asks for with Retry-After.
const MaxRetryAfter = time.Hour

const (
	// maxRead is what is read of an answer's body; the rest is not.
	maxRead = 4 << 10
	// maxQuoted is what an error quotes of that body.
	maxQuoted = 200
)

// unanswered is the outcome of a request that got no answer: ctx ended,
// the target is forbidden, or the network failed.
func (c *Connector) unanswered(ctx context.Context, err error) erpsync.Outcome {
	// A url.Error quotes the URL, which may carry a token: keep its cause.
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var fe *forbiddenError
	var ne net.Error
	switch {
	case errors.As(err, &fe):
		return erpsync.Refused(fe)
	case errors.Is(err, ErrTargetForbidden):
		return erpsync.Refused(err)
	case ctx.Err() != nil:
		return erpsync.Retry(fmt.Errorf("webhook: delivery stopped: %w", ctx.Err()), 0)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return erpsync.Retry(fmt.Errorf("webhook: no answer within %s", c.timeout), 0)
	default:
		// Refused or reset connections, DNS failures, TLS failures: the
		// target may be back, or fixed, later.
		return erpsync.Retry(fmt.Errorf("webhook: %s", oneLine(err.Error(), 300)), 0)
	}
}

// answered is the outcome of an answer with status code.
func (c *Connector) answered(code int, h http.Header, body string) erpsync.Outcome {
	switch {
	case code >= 200 && code <= 299:
		return erpsync.Delivered()
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || (code >= 500 && code <= 599):
		return erpsync.Retry(statusError(code, body), retryAfter(h.Get("Retry-After"), c.now()))
	case code >= 300 && code <= 399:
		return erpsync.Refused(fmt.Errorf("webhook: answered %d %s: redirects are not followed; configure the final URL",
			code, http.StatusText(code)))
	default:
		return erpsync.Refused(statusError(code, body))
	}
}

func statusError(code int, body string) error {
	if body == "" {
		return fmt.Errorf("webhook: answered %d %s", code, http.StatusText(code))
	}
	return fmt.Errorf("webhook: answered %d %s: %s", code, http.StatusText(code), body)
}

// readSnippet reads at most maxRead bytes of an answer's body and returns
// the start of it on one line, for an error.
func readSnippet(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, maxRead))
	return oneLine(string(b), maxQuoted)
}

// oneLine is s on one line of printable characters, cut to at most limit
// runes.
func oneLine(s string, limit int) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }), " ")
	if r := []rune(s); len(r) > limit {
		return string(r[:limit]) + "…"
	}
	return s
}

// retryAfter reads a Retry-After header: seconds or an HTTP date, capped
// at MaxRetryAfter; 0 when absent, unreadable or past.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		if s >= int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		return time.Duration(s) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return min(max(t.Sub(now), 0), MaxRetryAfter)
}
