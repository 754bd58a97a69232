package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Option changes a Config that Run builds.
type Option func(*Config)

// ShowBodies prints each message's JSON body, indented, under its line.
func ShowBodies(show bool) Option { return func(c *Config) { c.ShowBodies = show } }

// shutdownGrace is how long Run lets requests in flight finish once ctx
// ends.
const shutdownGrace = 5 * time.Second

// Run serves the sandbox receiver on addr (host:port; port 0 picks one)
// until ctx ends, then returns nil; or returns the error that stops it
// (an invalid secret, an address in use). secret is the webhook secret as
// given to the tenant's ERP connection, "whsec_" followed by the base64 of
// 24 to 64 bytes; it is never printed.
//
// It prints to out, first:
//
//	atrium erp sandbox: listening on http://127.0.0.1:9000 (POST webhooks to any path)
//
// then one line per POST:
//
//	2026-01-01T09:30:06Z id=0b4f3c6e-… type=invoice.issued aggregate_id=7d1e9a52-… position=42 signature ok
//
// with the time it arrived (UTC), its webhook-id, the message's type,
// aggregate_id and position ("-" when absent), and the verdict: "signature
// ok" (answered 204), "signature ok, again" for a webhook-id already seen
// (204 too), "BAD SIGNATURE (<why>)" (401), or "REFUSED: body over 1048576
// bytes" (413). A body whose id differs from webhook-id adds "(body id …
// differs)". With ShowBodies(true), each message's JSON body follows its
// line, indented. Values from the request are printed quoted when they hold
// spaces or unprintable characters.
func Run(ctx context.Context, addr string, secret []byte, out io.Writer, opts ...Option) error {
	cfg := Config{Secret: secret, Out: out}
	for _, o := range opts {
		o(&cfg)
	}
	rc, err := New(cfg)
	if err != nil {
		return err
	}
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	srv := &http.Server{
		Handler:           rc,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	rc.mu.Lock()
	_, err = fmt.Fprintf(out, "atrium erp sandbox: listening on http://%s (POST webhooks to any path)\n", ln.Addr())
	rc.mu.Unlock()
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("sandbox: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("sandbox: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("sandbox: %w", err)
	}
	return nil
}
