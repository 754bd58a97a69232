package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/adapters/jetstream/jetstreamtest"
	"github.com/atrium-platform/atrium/commands/identity"
)

// TestSessionsReadTheirWritesOnCluster checks that the secrets' buckets
// answer reads from their leader only, then creates logins through a
// connection to one node of a 3-node cluster, the buckets with 3
// replicas, and reads each at once through a connection to another: every
// login is found, as it must be when one instance logs a client in and
// another serves its next request. (In one process a follower is rarely
// behind long enough to show a stale read; `atrium serve` on nats-server
// processes showed them: see TestFailoverOnNATSCluster.)
func TestSessionsReadTheirWritesOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a NATS cluster")
	}
	cluster, nc := jetstreamtest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := jetstream.OpenSecrets(ctx, nc, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := jetstream.ReplicateAssets(ctx, nc, 3); err != nil {
		t.Fatal(err)
	}
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"ATRIUM_CREDENTIALS", "ATRIUM_SESSIONS", "ATRIUM_KEYS", "ATRIUM_SEALED"} {
		st, err := js.Stream(ctx, "KV_"+b)
		if err != nil {
			t.Fatal(err)
		}
		if st.CachedInfo().Config.AllowDirect {
			t.Errorf("bucket %s answers direct gets, from any replica", b)
		}
	}
	urls := strings.Split(cluster.ClientURLs(), ",")
	var secrets []*jetstream.Secrets
	for i, u := range urls {
		c, err := nats.Connect(u, nats.Name(fmt.Sprint("node-", i)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		s, err := jetstream.OpenSecrets(ctx, c, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, s)
	}
	errs := make(chan error, 16)
	for g := range 16 {
		go func() {
			for i := range 100 {
				n := g*100 + i
				w, r := secrets[n%3], secrets[(n+1)%3]
				s := identity.Session{ID: fmt.Sprintf("s%05d", n), UserID: "u1", Tenant: "acme", Current: "x", ExpiresAt: time.Now().Add(time.Hour)}
				if err := w.Create(ctx, s); err != nil {
					errs <- fmt.Errorf("create %s: %w", s.ID, err)
					return
				}
				got, _, err := r.Get(ctx, s.ID)
				if errors.Is(err, identity.ErrNotFound) {
					errs <- fmt.Errorf("login %s created through node %d unknown through node %d right after", s.ID, n%3+1, (n+1)%3+1)
					return
				}
				if err != nil || got.UserID != "u1" {
					errs <- fmt.Errorf("get %s: %+v %w", s.ID, got, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
