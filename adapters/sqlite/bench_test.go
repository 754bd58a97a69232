package sqlite_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/adapters/sqlite"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections/readstoretest"
)

// BenchmarkReadWhileProjecting measures point reads of a tenant while a
// writer keeps batch transactions of 500 upserts going on the same pool, as
// the projections do, for several pool sizes. With one connection a read
// waits for the writer's whole batch; with more, WAL readers run beside it.
//
//	go test -run '^$' -bench ReadWhileProjecting ./adapters/sqlite/
func BenchmarkReadWhileProjecting(b *testing.B) {
	for _, conns := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			s, err := sqlite.Open(b.TempDir(), sqlite.Config{MaxConnsPerTenant: conns})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := tenant.With(context.Background(), "bench")
			if err := s.Migrate(ctx, readstoretest.Model()); err != nil {
				b.Fatal(err)
			}
			wctx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			var batches int
			wg.Go(func() {
				for i := 0; wctx.Err() == nil; i++ {
					db, err := s.Open(ctx)
					if err != nil {
						b.Error(err)
						return
					}
					tx, err := db.BeginTx(ctx, nil)
					if err != nil {
						db.Release()
						b.Error(err)
						return
					}
					for j := range 500 {
						if _, err := tx.ExecContext(ctx, `INSERT INTO readstoretest_items (id, n) VALUES (?, ?)
							ON CONFLICT (id) DO UPDATE SET n = excluded.n`, fmt.Sprint(j%1000), i); err != nil {
							b.Error(err)
						}
					}
					if err := tx.Commit(); err != nil {
						b.Error(err)
					}
					db.Release()
					batches++
				}
			})
			lat := make([]time.Duration, 0, 1024)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				t0 := time.Now()
				db, err := s.Open(ctx)
				if err != nil {
					b.Fatal(err)
				}
				var n int
				err = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM readstoretest_items WHERE id = ?`, fmt.Sprint(i%1000)).Scan(&n)
				db.Release()
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			stop()
			wg.Wait()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(batches)/b.Elapsed().Seconds(), "batches/s")
		})
	}
}
