package jetstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/streams"
)

// Replicas: on a NATS cluster, every JetStream asset Atrium creates (the
// tenants' event streams and the platform's, the poison and ERP streams,
// the key-value buckets, the documents' object stores) is kept on the
// same number of servers. The adapters that create an asset give it the
// configured replicas (StoreConfig, ERPBusConfig, LeaseConfig,
// DocumentsConfig); those opened with no configuration of their own (the
// poison stream, the secrets' buckets) keep the replicas they have (one
// when they are created). ReplicateAssets gives every existing asset the
// configured replicas: a process runs it at start before it opens
// anything (for the assets of earlier starts, every tenant's stream
// included) and again once everything is open (for those just created
// with one replica).
//
// Durable consumers (the ERP's, one per tenant) leave their replicas at 0:
// the server gives them their stream's, and moves them with it when the
// stream's replicas change.

// assetPrefixes start the names of the JetStream streams behind Atrium's
// assets: its streams, its key-value buckets (KV_<bucket>) and its object
// stores (OBJ_<bucket>).
var assetPrefixes = [...]string{"ATRIUM_", "KV_ATRIUM_", "OBJ_ATRIUM_"}

// probePrefix names the short-lived streams of CheckReplicas.
const probePrefix = "ATRIUM_PROBE_"

// IsAsset reports whether the JetStream stream name is behind one of
// Atrium's assets.
func IsAsset(name string) bool {
	if strings.HasPrefix(name, probePrefix) {
		return false
	}
	for _, p := range assetPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// TooFewServersError is CheckReplicas' answer when the cluster cannot
// place that many replicas.
type TooFewServersError struct {
	Replicas int // asked for
	Servers  int // JetStream servers able to hold a replica
}

func (e *TooFewServersError) Error() string {
	return fmt.Sprintf("jetstream: %d replicas but the NATS cluster has %d JetStream server(s)", e.Replicas, e.Servers)
}

// JetStream API error codes of a placement refused (nats-server's
// errors.json).
const (
	errCodeNoPeers             = 10005 // no suitable peers for placement
	errCodeClusterUnavailable  = 10008 // JetStream system temporarily unavailable
	errCodeInsufficient        = 10023 // insufficient resources
	errCodeReplicasUnsupported = 10074 // replicas > 1 not supported in non-clustered mode
)

// checkWait bounds how long CheckReplicas waits for JetStream to answer: a
// cluster started at the same time as Atrium elects its leader first.
const checkWait = 30 * time.Second

// CheckReplicas checks that the JetStream nc reaches can keep n replicas of
// a stream, by creating a stream of n replicas and deleting it at once. It
// answers a *TooFewServersError, naming how many servers could hold one,
// when it cannot; it never settles for fewer. It waits, within ctx and at
// most 30 s, while JetStream is unavailable.
func CheckReplicas(ctx context.Context, nc *nats.Conn, n int) error {
	if n <= 1 {
		return nil
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, checkWait)
	defer cancel()
	placed, err := probe(ctx, js, n)
	if err != nil || placed {
		return err
	}
	servers := 1
	for k := n - 1; k > 1; k-- {
		placed, err := probe(ctx, js, k)
		if err != nil {
			return err
		}
		if placed {
			servers = k
			break
		}
	}
	return &TooFewServersError{Replicas: n, Servers: servers}
}

// probe reports whether a stream of n replicas can be created, creating
// and deleting one.
func probe(ctx context.Context, js jetstream.JetStream, n int) (bool, error) {
	id := strings.ReplaceAll(uuid.NewString(), "-", "")
	cfg := jetstream.StreamConfig{
		Name: probePrefix + id, Subjects: []string{"atrium.probe." + id},
		Description: "Atrium checking the cluster's size; deleted at once",
		Storage:     jetstream.FileStorage, Replicas: n, MaxMsgs: 1,
	}
	for {
		_, err := js.CreateStream(ctx, cfg)
		switch apiErrCode(err) {
		case errCodeNoPeers, errCodeInsufficient, errCodeReplicasUnsupported:
			return false, nil
		}
		if err == nil {
			return true, deleteProbe(ctx, js, cfg.Name)
		}
		if !unavailable(err) || ctx.Err() != nil {
			return false, translate(fmt.Errorf("probe stream of %d replicas: %w", n, err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// deleteProbe deletes a probe stream, even when ctx has just ended.
func deleteProbe(ctx context.Context, js jetstream.JetStream, name string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return translate(fmt.Errorf("delete probe stream %s: %w", name, err))
	}
	return nil
}

// unavailable reports whether err is JetStream not answering for now.
func unavailable(err error) bool {
	return apiErrCode(err) == errCodeClusterUnavailable || errors.Is(translate(err), streams.ErrUnavailable)
}

// ReplicateAssets gives every Atrium asset in the account n replicas,
// updating in place those that have another number, and returns once
// each updated one has its leader and every replica current, with the
// names of those it updated. JetStream copies a stream to its new servers
// while it stays readable, but leaves unanswered the writes it receives
// until the change is done: run it before the assets are used. One
// listing of the account's streams when no asset needs it.
func ReplicateAssets(ctx context.Context, nc *nats.Conn, n int) ([]string, error) {
	if n < 1 {
		n = 1
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	var stale []jetstream.StreamConfig
	list := js.ListStreams(ctx)
	for info := range list.Info() {
		if IsAsset(info.Config.Name) && info.Config.Replicas != n {
			stale = append(stale, info.Config)
		}
	}
	if err := list.Err(); err != nil {
		return nil, translate(fmt.Errorf("list streams: %w", err))
	}
	var updated []string
	var errs []error
	for _, cfg := range stale {
		cfg.Replicas = n
		if n > 1 && strings.HasPrefix(cfg.Name, "OBJ_") {
			// Reads from the leader only, as a bucket created replicated
			// has them (documents.go, settle).
			cfg.AllowDirect = false
		}
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			errs = append(errs, translate(fmt.Errorf("%s to %d replicas: %w", cfg.Name, n, err)))
			continue
		}
		updated = append(updated, cfg.Name)
	}
	if err := awaitReplicas(ctx, js, updated, n); err != nil {
		errs = append(errs, err)
	}
	return updated, errors.Join(errs...)
}

// awaitReplicas waits until each of the streams has n replicas in place:
// a leader and n-1 other peers, all current.
func awaitReplicas(ctx context.Context, js jetstream.JetStream, names []string, n int) error {
	pending := slices.Clone(names)
	for {
		var err error
		pending = slices.DeleteFunc(pending, func(name string) bool {
			st, serr := js.Stream(ctx, name)
			if serr != nil {
				err = serr
				return false
			}
			return replicated(st.CachedInfo().Cluster, n)
		})
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return translate(fmt.Errorf("%s not yet at %d replicas: %w (%w)", strings.Join(pending, ", "), n, ctx.Err(), err))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// replicated reports whether a stream's cluster has a leader and n-1
// other peers, all current. A stream of a single server has no cluster.
func replicated(c *jetstream.ClusterInfo, n int) bool {
	if c == nil {
		return n == 1
	}
	if c.Leader == "" || len(c.Replicas) != n-1 {
		return false
	}
	for _, p := range c.Replicas {
		if !p.Current || p.Offline {
			return false
		}
	}
	return true
}

// keptReplicas is the replicas stream has, for an asset opened with no
// replicas of its own to keep them (ReplicateAssets sets them); 1 for a
// stream yet to be created, or when it cannot be read (the create or
// update that follows fails then too).
func keptReplicas(ctx context.Context, js jetstream.JetStream, stream string) int {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return 1
	}
	return max(st.CachedInfo().Config.Replicas, 1)
}
