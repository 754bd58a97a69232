package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/atrium-platform/atrium/projections/erpsync"
)

// userAgent names the sender to the receiver.
const userAgent = "Atrium-ERP-Sync/1"

// Config configures a connector.
type Config struct {
	// URL receives the POSTs: http or https, with a host.
	URL string
	// Secret is the signing secret, "whsec_" followed by the base64 of 24
	// to 64 bytes (see ParseSecret).
	Secret string
	// Timeout bounds one delivery: connecting, sending and the answer.
	// Default 10 seconds.
	Timeout time.Duration
	// AllowPrivate lets deliveries reach loopback, private, link-local and
	// the other addresses ErrTargetForbidden lists (an on-premises ERP).
	AllowPrivate bool
	// Client, when set, sends the requests instead of the connector's own
	// client (tests). The private-address rule lives in the connector's
	// own transport, so it applies only when Client is nil; redirects are
	// never followed either way. The environment's proxy settings are
	// not used by the connector's own client.
	Client *http.Client
	// Now is the clock that stamps webhook-timestamp and reads Retry-After
	// dates; default time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every problem of c. It does not resolve the URL's
// host: see CheckTarget.
func (c Config) Validate() error {
	var errs []error
	if _, err := parseTarget(c.URL); err != nil {
		errs = append(errs, err)
	}
	if _, err := ParseSecret(c.Secret); err != nil {
		errs = append(errs, err)
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("webhook: Timeout %s: want 0 (the default) or more", c.Timeout))
	}
	return errors.Join(errs...)
}

// Connector delivers messages to one webhook URL. It is safe for
// concurrent use.
type Connector struct {
	url     string
	signer  *standardwebhooks.Webhook
	client  *http.Client
	timeout time.Duration
	now     func() time.Time
}

var _ erpsync.Connector = (*Connector)(nil)

// New returns a connector for cfg; it does not contact the target.
func New(cfg Config) (*Connector, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	key, _ := ParseSecret(cfg.Secret) // valid: checked above
	signer, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		return nil, fmt.Errorf("webhook: signer: %w", err)
	}
	var client http.Client
	if cfg.Client != nil {
		client = *cfg.Client
	} else {
		client = http.Client{Transport: transport(cfg.Timeout, cfg.AllowPrivate)}
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Connector{url: cfg.URL, signer: signer, client: &client, timeout: cfg.Timeout, now: cfg.Now}, nil
}

// GuardedClient is an HTTP client for URLs a tenant gives: it dials only
// the addresses CheckTarget allows (allowPrivate: loopback, private and
// link-local ones too), through no proxy, each request within timeout.
func GuardedClient(timeout time.Duration, allowPrivate bool) *http.Client {
	return &http.Client{Transport: transport(timeout, allowPrivate), Timeout: timeout}
}

// transport dials through dialGuard, uses no proxy (a proxy would dial
// the target instead of us, past the guard) and bounds what it keeps.
func transport(timeout time.Duration, allowPrivate bool) *http.Transport {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: dialGuard(allowPrivate)}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    timeout,
		MaxIdleConns:           2,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// Deliver POSTs m, signed, and says what the answer means: see the
// package documentation. It returns within the connector's Timeout, or
// when ctx ends (a Retry).
func (c *Connector) Deliver(ctx context.Context, m erpsync.Message) erpsync.Outcome {
	if m.ID == "" {
		return erpsync.Refused(errors.New("webhook: message without an id"))
	}
	body, err := json.Marshal(m)
	if err != nil {
		return erpsync.Refused(fmt.Errorf("webhook: encode message %s: %w", m.ID, err))
	}
	at := c.now()
	sig, err := c.signer.Sign(m.ID, at, body)
	if err != nil {
		return erpsync.Refused(fmt.Errorf("webhook: sign message %s: %w", m.ID, err))
	}

	dctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(dctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return erpsync.Refused(fmt.Errorf("%w: cannot make a request of it", ErrInvalidURL))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(standardwebhooks.HeaderWebhookID, m.ID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(at.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)

	resp, err := c.client.Do(req)
	if err != nil {
		return c.unanswered(ctx, err)
	}
	defer resp.Body.Close()
	return c.answered(resp.StatusCode, resp.Header, readSnippet(resp.Body))
}

// Close releases the connector's idle connections.
func (c *Connector) Close() error {
	c.client.CloseIdleConnections()
	return nil
}
