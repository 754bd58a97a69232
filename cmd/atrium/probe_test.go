package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || !ready.Load() {
			http.Error(w, `{"ready":false}`, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"ready":true}`))
	}))
	defer srv.Close()
	p := probeCmd{URL: srv.URL + "/readyz", Timeout: 2 * time.Second}
	if err := p.Run(); err != nil {
		t.Fatalf("a ready server: %v", err)
	}
	ready.Store(false)
	if err := p.Run(); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("a server not ready: %v, want its 503", err)
	}
	srv.Close()
	if err := p.Run(); err == nil {
		t.Fatal("no server: no error")
	}
}
