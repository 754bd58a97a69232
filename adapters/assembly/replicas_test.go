package assembly_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/adapters/assembly"
	"github.com/atrium-platform/atrium/adapters/auth"
	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/adapters/jetstream/jetstreamtest"
	tenancycmd "github.com/atrium-platform/atrium/commands/tenancy"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	"github.com/atrium-platform/atrium/modules"
)

// TestReplicasOnACluster starts Atrium on a 3-node NATS cluster with
// ATRIUM_NATS_REPLICAS 1, as a deployment that ran before the setting was
// raised, then with 3: every asset it created (tenant and platform
// streams, the poison and ERP streams, each key-value bucket, the leases,
// a tenant's documents) is brought to 3 replicas at start, and a tenant
// created afterwards gets 3 at once. With 5, more than the cluster has,
// the start is refused.
func TestReplicasOnACluster(t *testing.T) {
	c, nc := jetstreamtest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	open := func(replicas int) (*assembly.Process, error) {
		return assembly.Open(ctx, assembly.Config{DataDir: dir, NATSURL: c.ClientURLs(), NATSReplicas: replicas,
			SharedReads: true, // the leases too
			BaseDomain:  "atrium.test", Modules: modules.All(), Passwords: auth.Argon2{MemoryKiB: 1024, Passes: 1}})
	}

	p, err := open(1)
	if err != nil {
		t.Fatal(err)
	}
	provision(t, p, "acme")
	if _, err := p.Documents.Put(tenant.With(ctx, "acme"), "contract.txt", "text/plain", strings.NewReader("signed"), 6); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	assets := []string{"ATRIUM_ERP", "ATRIUM_EV_acme", "ATRIUM_EV_platform", "ATRIUM_POISON",
		"KV_ATRIUM_CREDENTIALS", "KV_ATRIUM_KEYS", "KV_ATRIUM_LEASES", "KV_ATRIUM_SEALED", "KV_ATRIUM_SESSIONS",
		"OBJ_ATRIUM_DOCS_acme"}
	if got := streams(t, ctx, nc); !slices.Equal(got, assets) {
		t.Fatalf("streams after a start with 1 replica: %v, want %v", got, assets)
	}
	for _, a := range assets {
		jetstreamtest.WaitReplicas(t, nc, a, 1)
	}

	p, err = open(3)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, a := range assets {
		jetstreamtest.WaitReplicas(t, nc, a, 3)
	}
	provision(t, p, "globex")
	jetstreamtest.WaitReplicas(t, nc, jetstream.StreamName("globex"), 3)
	for _, s := range streams(t, ctx, nc) {
		if !jetstream.IsAsset(s) {
			t.Errorf("stream %s is not named as an Atrium asset: ReplicateAssets would miss it", s)
		}
	}

	if _, err := open(5); err == nil || !strings.Contains(err.Error(), "ATRIUM_NATS_REPLICAS 5 but the NATS cluster has 3 JetStream server(s)") {
		t.Fatalf("start with 5 replicas on 3 servers: %v", err)
	}
}

func provision(t *testing.T, p *assembly.Process, slug string) {
	t.Helper()
	admin := user.With(context.Background(), user.Principal{ID: "root", Roles: []user.Role{user.PlatformAdmin}})
	if _, err := p.Tenancy.Provision(admin, tenancycmd.ProvisionTenant{Slug: slug, Name: slug + " inc",
		Admin: tenancycmd.FirstAdmin{Email: "admin@" + slug + ".example", Name: "Admin", Password: "first admin password"}}); err != nil {
		t.Fatal(err)
	}
}

// streams lists the JetStream streams of the account, sorted.
func streams(t *testing.T, ctx context.Context, nc *nats.Conn) []string {
	t.Helper()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	names := js.StreamNames(ctx)
	for n := range names.Name() {
		out = append(out, n)
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}
