package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// DefaultTolerance is how far a signed request's webhook-timestamp may be
// from now, either way.
const DefaultTolerance = 5 * time.Minute

// ErrInvalidSignature is returned for a request whose signature headers
// are missing or malformed, whose timestamp is too far from now, or whose
// signature is not the body's under the secret.
var ErrInvalidSignature = errors.New("webhook: invalid signature")

// Verify checks a request signed in the Standard Webhooks scheme (as the
// ERP signs the payments it reports): its webhook-timestamp is within
// tolerance of now (DefaultTolerance when tolerance is 0 or less) and one
// of the signatures in webhook-signature is the HMAC-SHA256 of
// "<webhook-id>.<webhook-timestamp>.<body>" keyed with secret (a key as
// ParseSecret returns it). Every error matches ErrInvalidSignature.
func Verify(secret []byte, headers http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	wh, err := standardwebhooks.NewWebhookRaw(secret)
	if err != nil {
		return fmt.Errorf("%w: no secret", ErrInvalidSignature)
	}
	ts, err := strconv.ParseInt(headers.Get(standardwebhooks.HeaderWebhookTimestamp), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s missing or not unix seconds", ErrInvalidSignature, standardwebhooks.HeaderWebhookTimestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s is %s away from now, more than %s", ErrInvalidSignature,
			standardwebhooks.HeaderWebhookTimestamp, d.Abs().Round(time.Second), tolerance)
	}
	// The timestamp was checked against our clock above; the library
	// checks the headers and the signature.
	if err := wh.VerifyIgnoringTimestamp(body, headers); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSignature, err)
	}
	return nil
}
