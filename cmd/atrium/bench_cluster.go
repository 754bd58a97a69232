package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// replicated is the cost of replication, measured in one run: appends
// through the event store on a 3-node cluster with 3 replicas against the
// same on a single server, and against raw expected-sequence publishes
// on the cluster, with 1 and 16 writers.
type replicated struct {
	Writers              int
	Single, Cluster, Raw float64 // appends per second
}

// benchReplicated starts a single server and a 3-node cluster in this
// process, both reached over loopback TCP with JetStream's default fsync,
// and measures each for d per writer count.
func benchReplicated(ctx context.Context, dir string, d time.Duration) ([]replicated, error) {
	// A free port, asked of the system: to the NATS server port 0 means
	// its default, 4222, which another server may hold.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return nil, err
	}
	single, err := jetstream.StartServer(jetstream.ServerConfig{DataDir: filepath.Join(dir, "single"), Listen: addr})
	if err != nil {
		return nil, err
	}
	defer single.Shutdown()
	snc, err := nats.Connect(single.ClientURL(), nats.Name("bench single"))
	if err != nil {
		return nil, err
	}
	defer snc.Close()
	cluster, err := jetstream.StartCluster(jetstream.ClusterConfig{Nodes: 3, DataDir: filepath.Join(dir, "cluster")})
	if err != nil {
		return nil, err
	}
	defer cluster.Shutdown()
	cnc, err := cluster.Connect("bench cluster")
	if err != nil {
		return nil, err
	}
	defer cnc.Close()

	var out []replicated
	for _, writers := range []int{1, 16} {
		r := replicated{Writers: writers}
		if r.Single, err = storeAppends(ctx, snc, 1, writers, d); err != nil {
			return nil, fmt.Errorf("single server: %w", err)
		}
		if r.Cluster, err = storeAppends(ctx, cnc, 3, writers, d); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		if r.Raw, err = rawPublish(ctx, cnc, writers, d, 3); err != nil {
			return nil, fmt.Errorf("cluster: raw publish: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// storeAppends is the event store's append path alone: each writer
// appends one event at a time to its own stream, with the expected
// version, in a tenant stream of the given replicas.
func storeAppends(ctx context.Context, nc *nats.Conn, replicas, writers int, d time.Duration) (float64, error) {
	s, err := jetstream.NewStore(nc, jetstream.StoreConfig{Replicas: replicas})
	if err != nil {
		return 0, err
	}
	t := tenant.ID(fmt.Sprintf("benchrepl%d", writers))
	ctx = tenant.With(ctx, t)
	if err := s.Provision(ctx); err != nil {
		return 0, err
	}
	return perSecond(writers, d, func(int) (func() error, error) {
		name, ev, err := benchDraft(ctx, t, uuid.NewString())
		if err != nil {
			return nil, err
		}
		var v streams.Version
		return func() error {
			ev.ID = uuid.New()
			if _, err := s.Append(ctx, name, streams.Exactly(v), ev); err != nil {
				return err
			}
			v++
			return nil
		}, nil
	})
}

// benchDraft is the event every append measure writes, raw or through the
// event store: invoice id of tenant t drafted as the command path drafts
// it (see commandAppends), its data as the command encodes it, with the
// metadata a command gives its events. It returns the invoice's stream.
func benchDraft(ctx context.Context, t tenant.ID, id string) (streams.Name, streams.EventData, error) {
	const by = "00000000-0000-4000-8000-000000000002"
	stream, err := streams.NewName(t, invoice.Category, id)
	if err != nil {
		return "", streams.EventData{}, err
	}
	policy, err := benchSettings{}.InvoicePolicy(ctx)
	if err != nil {
		return "", streams.EventData{}, err
	}
	inv := benchInvoice()
	lines := make([]invoice.LineInput, len(inv.Lines))
	for i, l := range inv.Lines {
		lines[i] = invoice.LineInput(l)
	}
	evs, err := invoice.DecideDraft(invoice.State{}, invoice.Draft{InvoiceID: id, ClientID: inv.Client.ID, ClientName: inv.Client.Name,
		Currency: inv.Currency, DueDate: inv.DueDate, Lines: lines, Policy: policy, By: by, At: time.Now()})
	if err != nil {
		return "", streams.EventData{}, err
	}
	data, err := json.Marshal(evs[0])
	if err != nil {
		return "", streams.EventData{}, err
	}
	command := uuid.NewString()
	return stream, streams.EventData{ID: uuid.New(), Type: evs[0].EventName(), Data: data,
		Metadata: streams.Metadata{UserID: by, CorrelationID: command, CommandID: command}}, nil
}
