package kurrentdb

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/google/uuid"
	kdb "github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
	"github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/shared"
	api "github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/streams"
)

// filteredReads reads $all with a server-side filter on a stream prefix,
// forwards from a position or backwards from the end: what ReadTenant and
// Head need. KurrentDB's gRPC protocol has these reads (its .NET client
// offers them), the Go client only offers filtered subscriptions, so they
// are made here with the protocol's own generated client, on a connection
// of their own to the same server with the same TLS and credentials.
type filteredReads struct {
	conn      *grpc.ClientConn
	streams   api.StreamsClient
	auth      string // an Authorization header, or ""
	namespace string // the store's
}

// dialFiltered prepares the connection (gRPC connects on first use) to
// the node of conf, or its first gossip seed.
func dialFiltered(conf *kdb.Configuration, namespace string) (*filteredReads, error) {
	addr := conf.Address
	if addr == "" && len(conf.GossipSeeds) > 0 {
		addr = conf.GossipSeeds[0].String()
	}
	if addr == "" {
		return nil, errors.New("no address in the connection string")
	}
	transport := insecure.NewCredentials()
	if !conf.DisableTLS {
		tc := &tls.Config{InsecureSkipVerify: conf.SkipCertificateVerification, RootCAs: conf.RootCAs, MinVersion: tls.VersionTLS12} //nolint:gosec // the connection string's own setting
		if conf.UserCertFile != "" && conf.UserKeyFile != "" {
			cert, err := tls.LoadX509KeyPair(conf.UserCertFile, conf.UserKeyFile)
			if err != nil {
				return nil, fmt.Errorf("user certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		transport = credentials.NewTLS(tc)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(transport), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(17<<20)))
	if err != nil {
		return nil, err
	}
	f := &filteredReads{conn: conn, streams: api.NewStreamsClient(conn), namespace: namespace}
	// Credentials go only over TLS, as the client sends them.
	if !conf.DisableTLS && conf.Username != "" {
		f.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(conf.Username+":"+conf.Password))
	}
	return f, nil
}

func (f *filteredReads) close() error { return f.conn.Close() }

type direction int

const (
	forwards direction = iota
	backwards
)

// read returns at most count events of tenant t (its streams' prefix):
// forwards from the event at after ($all's start for 0), or
// backwards from the end of $all. An event of another tenant, which the
// filter never lets through, is refused all the same.
func (f *filteredReads) read(ctx context.Context, t tenant.ID, dir direction, after streams.Position, count uint64) ([]streams.Record, error) {
	all := &api.ReadReq_Options_AllOptions{AllOption: &api.ReadReq_Options_AllOptions_Start{Start: &shared.Empty{}}}
	rd := api.ReadReq_Options_Forwards
	switch {
	case dir == backwards:
		all.AllOption = &api.ReadReq_Options_AllOptions_End{End: &shared.Empty{}}
		rd = api.ReadReq_Options_Backwards
	case after > 0:
		all.AllOption = &api.ReadReq_Options_AllOptions_Position{Position: &api.ReadReq_Options_Position{CommitPosition: uint64(after), PreparePosition: uint64(after)}}
	}
	req := &api.ReadReq{Options: &api.ReadReq_Options{
		StreamOption:  &api.ReadReq_Options_All{All: all},
		ReadDirection: rd,
		CountOption:   &api.ReadReq_Options_Count{Count: count},
		FilterOption: &api.ReadReq_Options_Filter{Filter: &api.ReadReq_Options_FilterOptions{
			Filter: &api.ReadReq_Options_FilterOptions_StreamIdentifier{StreamIdentifier: &api.ReadReq_Options_FilterOptions_Expression{Prefix: []string{prefix(f.namespace, t)}}},
			Window: &api.ReadReq_Options_FilterOptions_Count{Count: &shared.Empty{}},
			// Checkpoints are for subscriptions; a read asks for the
			// fewest (multiplier 1 is the protocol's smallest).
			CheckpointIntervalMultiplier: 1,
		}},
		UuidOption:    &api.ReadReq_Options_UUIDOption{Content: &api.ReadReq_Options_UUIDOption_String_{String_: &shared.Empty{}}},
		ControlOption: &api.ReadReq_Options_ControlOption{Compatibility: 1},
	}}
	if f.auth != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", f.auth)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the server's stream if this returns early
	rc, err := f.streams.Read(ctx, req)
	if err != nil {
		return nil, err
	}
	var out []streams.Record
	for {
		resp, err := rc.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		ev := resp.GetEvent().GetEvent()
		if ev == nil {
			continue // a checkpoint, or a message this read does not use
		}
		r, err := protoRecord(f.namespace, ev)
		if err != nil {
			return nil, err
		}
		if r.Stream.Tenant() != t {
			return nil, fmt.Errorf("%w: a read of tenant %s returned an event of %s", streams.ErrTenantMismatch, t, r.Stream.Tenant())
		}
		out = append(out, r)
	}
}

// protoRecord is a recorded event of the protocol as the port's record.
func protoRecord(namespace string, ev *api.ReadResp_ReadEvent_RecordedEvent) (streams.Record, error) {
	var id uuid.UUID
	var err error
	if s := ev.GetId().GetStructured(); s != nil {
		id, err = kdb.ParseUUIDFromInt64(s.MostSignificantBits, s.LeastSignificantBits)
	} else {
		id, err = uuid.Parse(ev.GetId().GetString_())
	}
	if err != nil {
		return streams.Record{}, fmt.Errorf("%w: event id: %w", streams.ErrBadMetadata, err)
	}
	// "created" is in 100 ns ticks since the Unix epoch.
	ticks, err := strconv.ParseInt(ev.GetMetadata()["created"], 10, 64)
	if err != nil {
		return streams.Record{}, fmt.Errorf("%w: event %s: created: %w", streams.ErrBadMetadata, id, err)
	}
	return record(namespace, id, string(ev.GetStreamIdentifier().GetStreamName()), ev.GetMetadata()["type"], ev.GetStreamRevision(),
		ev.GetCommitPosition(), time.Unix(0, ticks*100), ev.GetData(), ev.GetCustomMetadata())
}

// isUnavailable reports whether err is a gRPC call that did not reach a
// server able to answer.
func isUnavailable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted:
		return true
	}
	return false
}
