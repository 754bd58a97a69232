package projections_test

import (
	"context"
	"fmt"
	"io/fs"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/projections"
	"github.com/atrium-platform/atrium/streams"
)

// counted is a test read model that shows a double apply: a row per
// application of an event, with no key, and a running total.
type counted struct{}

func (counted) Name() string { return "counted" }

func (counted) Migrations(projections.Dialect) (fs.FS, error) {
	return fstest.MapFS{"00001_counted.sql": {Data: []byte(`-- +goose Up
CREATE TABLE counted (position INTEGER NOT NULL);
CREATE TABLE counted_total (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
INSERT INTO counted_total (id, n) VALUES (1, 0);
-- +goose Down
DROP TABLE counted_total;
DROP TABLE counted;
`)}}, nil
}

func (counted) Apply(ctx context.Context, tx projections.Tx, _ projections.Dialect, rec streams.Record, _ domain.Event) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO counted (position) VALUES (?)`, int64(rec.Position)); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE counted_total SET n = n + 1 WHERE id = 1`)
	return err
}

// TestTwoRunnersOnOneStoreApplyEachEventOnce runs two runners, as two
// instances would, projecting one tenant into one read database while
// events are appended: the checkpoint fence lets only one of them commit
// each batch, so every event is applied exactly once.
func TestTwoRunnersOnOneStoreApplyEachEventOnce(t *testing.T) {
	s := newStack(t)
	// counted alone: a read model with unique keys would turn a double
	// apply into a failed event, which would hide it.
	s.projs = []projections.Projector{counted{}}
	ctx := tenant.With(s.ctx, "acme")
	if err := s.reads.Migrate(ctx, s.projs...); err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 40
	fin := as(s.ctx, "acme", user.Finance)
	var mu sync.Mutex
	var last streams.Position
	write := func(w int) error {
		for i := range each {
			res, err := s.h.Create(fin, draft(fmt.Sprintf("C%d-%d", w, i), "2026-12-31", 100))
			if err != nil {
				return err
			}
			mu.Lock()
			last = max(last, res.Position)
			mu.Unlock()
		}
		return nil
	}
	// Checkpoints both runners know, then a backlog they start on at once,
	// then events appended while they project.
	r1, r2 := s.newRunner(t), s.newRunner(t)
	if err := write(0); err != nil {
		t.Fatal(err)
	}
	if err := r1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, r1, ctx, last)
	if err := r1.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := write(1); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*projections.Runner{r1, r2} {
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 2; w < writers; w++ {
		wg.Go(func() {
			if err := write(w); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	wait(t, r1, ctx, last)
	wait(t, r2, ctx, last)

	db, err := s.reads.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Release()
	var rows, distinct, total int64
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT position) FROM counted`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT n FROM counted_total`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if rows != int64(last) || distinct != int64(last) || total != int64(last) {
		t.Fatalf("%d events: %d applications of %d distinct events, total %d; want each applied once", last, rows, distinct, total)
	}
}
