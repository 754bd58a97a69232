package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// probeCmd asks a running Atrium whether it is ready, for container health
// checks on images that have no shell nor curl.
type probeCmd struct {
	URL     string        `default:"http://127.0.0.1:8080/readyz" help:"What to ask: /readyz (ready to serve) or /healthz (alive)."`
	Timeout time.Duration `default:"3s" help:"How long to wait for the answer."`
}

func (c probeCmd) Run() error {
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s %s", c.URL, resp.Status, body)
	}
	return nil
}
