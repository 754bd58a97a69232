package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/atrium-platform/atrium/adapters/assembly"
)

type serveCmd struct {
	config
}

// Run starts the process and blocks until SIGINT or SIGTERM.
func (s *serveCmd) Run() error {
	if err := s.validate(); err != nil {
		return fmt.Errorf("bad configuration: %s", oneLine(err))
	}
	log := s.logger()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := os.MkdirAll(s.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	fresh, err := isEmptyDir(s.DataDir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	// The address first: a port taken fails the start before anything
	// else is started.
	ln, err := net.Listen("tcp", s.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	defer ln.Close()
	st, err := assembly.Open(ctx, s.process(log))
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("shutdown", "err", err)
		}
	}()
	if s.AdminEmail != "" {
		created, err := st.Identity.EnsurePlatformAdmin(ctx, s.AdminEmail, s.AdminPass)
		if err != nil {
			return fmt.Errorf("bootstrap administrator: %w", err)
		}
		if created {
			log.Info("platform administrator created", "email", s.AdminEmail)
		} else {
			log.Info("platform administrator already there; its password is left as it was", "email", s.AdminEmail)
		}
	}
	if fresh && s.Demo {
		at := demoURLs(s.BaseDomain, ln.Addr())
		at.admin = s.AdminEmail
		if err := seedDemo(ctx, st, log, at); err != nil {
			return fmt.Errorf("demo seed: %w", err)
		}
	}
	app := st.HTTP
	errc := make(chan error, 1)
	go func() { errc <- app.Listener(ln) }()
	log.Info("atrium serving", "addr", s.HTTPAddr, "data_dir", s.DataDir, "tenants", len(st.Catalog.List()))
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return app.ShutdownWithTimeout(10 * time.Second)
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	}
}

func isEmptyDir(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return true, nil
		}
		return false, err
	}
	return len(entries) == 0, nil
}
