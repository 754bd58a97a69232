// Package mssqlstore gives tests a SQL Server read store of their own on
// mssqltest's server: its databases and logins carry a prefix no other
// test uses, and are dropped when the test ends.
package mssqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/adapters/serverstore"
	"github.com/atrium-platform/atrium/adapters/sqlserver"
	"github.com/atrium-platform/atrium/adapters/sqlserver/mssqltest"
	"github.com/atrium-platform/atrium/domain/tenant"
)

// New returns a store on the test binary's SQL Server (see
// mssqltest.Start: skipped when there is none) with cfg's settings, its
// URL, prefix and credentials filled in when empty.
func New(t testing.TB, cfg serverstore.Config) *serverstore.Store {
	t.Helper()
	srv := mssqltest.Start(t)
	if cfg.URL == "" {
		cfg.URL = srv.URL
	}
	if cfg.Prefix == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		cfg.Prefix = "t" + hex.EncodeToString(b) + "_"
	}
	if cfg.Credentials == nil {
		cfg.Credentials = &serverstore.MemoryCredentials{}
	}
	s, err := sqlserver.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ts, err := s.Tenants(ctx)
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, tn := range ts {
			if err := s.Drop(tenant.With(ctx, tn)); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		if err := s.Close(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return s
}
