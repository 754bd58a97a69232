package kurrentdbtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/atrium-platform/atrium/adapters/kurrentdb/kurrentdbtest"
)

// newClient connects the real client to a fresh stand-in.
func newClient(t *testing.T) (*kurrentdbtest.Server, *kurrentdb.Client) {
	t.Helper()
	srv := kurrentdbtest.Start(t)
	conf, err := kurrentdb.ParseConnectionString(srv.URL())
	if err != nil {
		t.Fatalf("parse connection string: %v", err)
	}
	conf.Logger = kurrentdb.NoopLogging()
	client, err := kurrentdb.NewClient(conf)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return srv, client
}

func event(typ, data string) kurrentdb.EventData {
	return kurrentdb.EventData{
		EventID:     uuid.New(),
		EventType:   typ,
		ContentType: kurrentdb.ContentTypeJson,
		Data:        []byte(data),
		Metadata:    []byte(`{"source":"test"}`),
	}
}

func appendTo(t *testing.T, c *kurrentdb.Client, stream string, state kurrentdb.StreamState, events ...kurrentdb.EventData) *kurrentdb.WriteResult {
	t.Helper()
	res, err := c.AppendToStream(context.Background(), stream, kurrentdb.AppendToStreamOptions{StreamState: state}, events...)
	if err != nil {
		t.Fatalf("append to %s: %v", stream, err)
	}
	return res
}

func errorCode(t *testing.T, err error) kurrentdb.ErrorCode {
	t.Helper()
	var kerr *kurrentdb.Error
	if !errors.As(err, &kerr) {
		t.Fatalf("want a *kurrentdb.Error, got %T: %v", err, err)
	}
	return kerr.Code()
}

// collect drains a read.
func collect(rs *kurrentdb.ReadStream, err error) ([]*kurrentdb.RecordedEvent, error) {
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []*kurrentdb.RecordedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev.OriginalEvent())
	}
}

func TestAppendExpectedStates(t *testing.T) {
	srv, c := newClient(t)
	ctx := context.Background()

	r0 := appendTo(t, c, "order-1", kurrentdb.NoStream{}, event("Placed", `{"n":0}`))
	r1 := appendTo(t, c, "order-1", kurrentdb.Revision(0), event("Paid", `{"n":1}`), event("Packed", `{"n":2}`))
	r2 := appendTo(t, c, "order-1", kurrentdb.Any{}, event("Shipped", `{"n":3}`))
	r3 := appendTo(t, c, "order-1", kurrentdb.StreamExists{}, event("Delivered", `{"n":4}`))

	for i, want := range []uint64{0, 2, 3, 4} {
		got := []*kurrentdb.WriteResult{r0, r1, r2, r3}[i].NextExpectedVersion
		if got != want {
			t.Errorf("append %d: revision %d, want %d", i, got, want)
		}
	}
	if r0.CommitPosition < 1000 || r0.CommitPosition != r0.PreparePosition {
		t.Errorf("first position %+v: want commit == prepare, well above 0", r0)
	}
	if r0.CommitPosition >= r1.CommitPosition || r1.CommitPosition >= r2.CommitPosition || r2.CommitPosition >= r3.CommitPosition {
		t.Errorf("positions not increasing: %d %d %d %d", r0.CommitPosition, r1.CommitPosition, r2.CommitPosition, r3.CommitPosition)
	}
	// The reported position is the write's first event's (an adapter that
	// needs the last one's reads it back).
	log := srv.Events()
	if log[1].Position != r1.CommitPosition || log[2].Type != "Packed" {
		t.Errorf("append of two reported %d, its first event is %+v", r1.CommitPosition, log[1])
	}
	// Positions grow by an amount that depends on the event, like file offsets.
	if d1, d2 := log[1].Position-log[0].Position, log[2].Position-log[1].Position; d1 == d2 {
		t.Errorf("equal gaps %d between positions of differently sized events", d1)
	}

	conflicts := []struct {
		stream string
		state  kurrentdb.StreamState
	}{
		{"order-1", kurrentdb.NoStream{}},
		{"order-1", kurrentdb.Revision(1)},
		{"order-2", kurrentdb.StreamExists{}},
		{"order-2", kurrentdb.Revision(0)},
	}
	for _, tc := range conflicts {
		_, err := c.AppendToStream(ctx, tc.stream, kurrentdb.AppendToStreamOptions{StreamState: tc.state}, event("X", `{}`))
		if err == nil {
			t.Fatalf("%s with %#v: want a conflict", tc.stream, tc.state)
		}
		if code := errorCode(t, err); code != kurrentdb.ErrorCodeWrongExpectedVersion {
			t.Errorf("%s with %#v: code %d, want ErrorCodeWrongExpectedVersion (%v)", tc.stream, tc.state, code, err)
		}
	}
	if n := len(srv.Events()); n != 5 {
		t.Errorf("log has %d events after conflicts, want 5", n)
	}
}

func TestReadStream(t *testing.T) {
	srv, c := newClient(t)
	ctx := context.Background()
	var sent []kurrentdb.EventData
	for _, typ := range []string{"One", "Two", "Three", "Four"} {
		sent = append(sent, event(typ, `{"t":"`+typ+`"}`))
	}
	before := time.Now()
	appendTo(t, c, "read-1", kurrentdb.NoStream{}, sent...)
	appendTo(t, c, "other", kurrentdb.NoStream{}, event("Noise", `{}`))

	got, err := collect(c.ReadStream(ctx, "read-1", kurrentdb.ReadStreamOptions{}, 100))
	if err != nil || len(got) != 4 {
		t.Fatalf("read forwards: %d events, %v", len(got), err)
	}
	log := srv.Events()
	for i, ev := range got {
		if ev.EventID != sent[i].EventID || ev.EventType != sent[i].EventType || string(ev.Data) != string(sent[i].Data) ||
			string(ev.UserMetadata) != `{"source":"test"}` || ev.ContentType != "application/json" ||
			ev.StreamID != "read-1" || ev.EventNumber != uint64(i) ||
			ev.Position.Commit != log[i].Position || ev.Position.Prepare != log[i].Position {
			t.Errorf("event %d: %+v", i, ev)
		}
		if ev.CreatedDate.Before(before.Add(-time.Second)) || ev.CreatedDate.After(time.Now().Add(time.Second)) {
			t.Errorf("event %d created %v, want about now", i, ev.CreatedDate)
		}
	}

	got, err = collect(c.ReadStream(ctx, "read-1", kurrentdb.ReadStreamOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, 2))
	if err != nil || len(got) != 2 || got[0].EventNumber != 3 || got[1].EventNumber != 2 {
		t.Fatalf("read backwards from end: %v %v", got, err)
	}
	got, err = collect(c.ReadStream(ctx, "read-1", kurrentdb.ReadStreamOptions{From: kurrentdb.Revision(2)}, 100))
	if err != nil || len(got) != 2 || got[0].EventNumber != 2 {
		t.Fatalf("read from revision 2: %v %v", got, err)
	}
	got, err = collect(c.ReadStream(ctx, "read-1", kurrentdb.ReadStreamOptions{Direction: kurrentdb.Backwards, From: kurrentdb.Revision(1)}, 100))
	if err != nil || len(got) != 2 || got[0].EventNumber != 1 || got[1].EventNumber != 0 {
		t.Fatalf("read backwards from revision 1: %v %v", got, err)
	}

	_, err = collect(c.ReadStream(ctx, "missing", kurrentdb.ReadStreamOptions{}, 10))
	if err == nil || errorCode(t, err) != kurrentdb.ErrorCodeResourceNotFound {
		t.Fatalf("read of a missing stream: %v, want ErrorCodeResourceNotFound", err)
	}
}

func TestReadAll(t *testing.T) {
	srv, c := newClient(t)
	ctx := context.Background()
	appendTo(t, c, "a", kurrentdb.Any{}, event("A1", `{}`), event("A2", `{"longer":"payload"}`))
	appendTo(t, c, "b", kurrentdb.Any{}, event("B1", `{}`))
	appendTo(t, c, "a", kurrentdb.Any{}, event("A3", `{}`))
	log := srv.Events()

	got, err := collect(c.ReadAll(ctx, kurrentdb.ReadAllOptions{}, 100))
	if err != nil || len(got) != len(log) {
		t.Fatalf("read $all: %d events, %v", len(got), err)
	}
	for i, ev := range got {
		if ev.Position.Commit != log[i].Position || ev.EventID != log[i].ID || ev.StreamID != log[i].Stream {
			t.Errorf("$all event %d: %+v, want %+v", i, ev, log[i])
		}
	}

	from := kurrentdb.Position{Commit: log[1].Position, Prepare: log[1].Position}
	got, err = collect(c.ReadAll(ctx, kurrentdb.ReadAllOptions{From: from}, 2))
	if err != nil || len(got) != 2 || got[0].EventType != "A2" || got[1].EventType != "B1" {
		t.Fatalf("read $all from a position: %v %v", got, err)
	}
	got, err = collect(c.ReadAll(ctx, kurrentdb.ReadAllOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, 2))
	if err != nil || len(got) != 2 || got[0].EventType != "A3" || got[1].EventType != "B1" {
		t.Fatalf("read $all backwards: %v %v", got, err)
	}
	got, err = collect(c.ReadAll(ctx, kurrentdb.ReadAllOptions{Direction: kurrentdb.Backwards, From: from}, 10))
	if err != nil || len(got) != 1 || got[0].EventType != "A1" {
		t.Fatalf("read $all backwards from a position: %v %v", got, err)
	}
}

// next waits for the next subscription message that is not a checkpoint.
func next(t *testing.T, sub *kurrentdb.Subscription) *kurrentdb.SubscriptionEvent {
	t.Helper()
	for {
		ev := sub.Recv()
		if ev.SubscriptionDropped != nil {
			t.Fatalf("subscription dropped: %v", ev.SubscriptionDropped.Error)
		}
		if ev.CheckPointReached == nil {
			return ev
		}
	}
}

func TestSubscribeToAllFiltered(t *testing.T) {
	srv, c := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	appendTo(t, c, "acme.orders-1", kurrentdb.Any{}, event("Placed", `{}`))
	appendTo(t, c, "other-1", kurrentdb.Any{}, event("Ignored", `{}`))
	appendTo(t, c, "acme.orders-2", kurrentdb.Any{}, event("Placed", `{}`))

	sub, err := c.SubscribeToAll(ctx, kurrentdb.SubscribeToAllOptions{
		From:   kurrentdb.Start{},
		Filter: &kurrentdb.SubscriptionFilter{Type: kurrentdb.StreamFilterType, Prefixes: []string{"acme."}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	for _, want := range []string{"acme.orders-1", "acme.orders-2"} {
		ev := next(t, sub)
		if ev.EventAppeared == nil || ev.EventAppeared.OriginalEvent().StreamID != want {
			t.Fatalf("want stored event of %s, got %+v", want, ev)
		}
	}
	up := next(t, sub)
	if up.CaughtUp == nil || up.CaughtUp.Position == nil || up.CaughtUp.Date.IsZero() {
		t.Fatalf("want caught-up with a position and a date, got %+v", up)
	}
	if last := srv.Events()[2].Position; up.CaughtUp.Position.Commit != last {
		t.Errorf("caught up at %d, last event at %d", up.CaughtUp.Position.Commit, last)
	}

	appendTo(t, c, "other-2", kurrentdb.Any{}, event("Ignored", `{}`))
	live := appendTo(t, c, "acme.orders-3", kurrentdb.Any{}, event("Placed", `{}`))
	ev := next(t, sub)
	if ev.EventAppeared == nil || ev.EventAppeared.OriginalEvent().StreamID != "acme.orders-3" ||
		ev.EventAppeared.OriginalEvent().Position.Commit != live.CommitPosition {
		t.Fatalf("want the live acme.orders-3 event, got %+v", ev)
	}
}

func TestMultiStreamAppend(t *testing.T) {
	srv, c := newClient(t)
	ctx := context.Background()
	appendTo(t, c, "inventory-1", kurrentdb.NoStream{}, event("Stocked", `{}`))

	order := event("OrderPlaced", `{"id":1}`)
	order.Metadata = []byte(`{"tenant":"acme"}`)
	res, err := c.MultiStreamAppend(ctx, slices.Values([]kurrentdb.AppendStreamRequest{
		{StreamName: "order-9", Events: slices.Values([]kurrentdb.EventData{order}), ExpectedStreamState: kurrentdb.NoStream{}},
		{StreamName: "inventory-1", Events: slices.Values([]kurrentdb.EventData{event("Reserved", `{}`), event("Reserved", `{}`)}), ExpectedStreamState: kurrentdb.Revision(0)},
	}))
	if err != nil {
		t.Fatal(err)
	}
	log := srv.Events()
	// The position reported is the last stream's first event's.
	if len(log) != 4 || res.Position != int64(log[2].Position) {
		t.Fatalf("position %d, log %+v", res.Position, log)
	}
	if len(res.Responses) != 2 || res.Responses[0] != (kurrentdb.AppendResponse{Stream: "order-9", StreamRevision: 0}) ||
		res.Responses[1] != (kurrentdb.AppendResponse{Stream: "inventory-1", StreamRevision: 2}) {
		t.Fatalf("responses %+v", res.Responses)
	}

	got, err := collect(c.ReadStream(ctx, "order-9", kurrentdb.ReadStreamOptions{}, 10))
	if err != nil || len(got) != 1 {
		t.Fatalf("read back: %v %v", got, err)
	}
	var meta map[string]string
	if err := json.Unmarshal(got[0].UserMetadata, &meta); err != nil {
		t.Fatalf("metadata %q: %v", got[0].UserMetadata, err)
	}
	if meta["tenant"] != "acme" || meta["$schema.name"] != "OrderPlaced" || meta["$schema.format"] != "Json" ||
		got[0].EventType != "OrderPlaced" || got[0].EventID != order.EventID || got[0].ContentType != "application/json" {
		t.Errorf("read back %+v with metadata %v", got[0], meta)
	}

	// A conflict on one stream writes nothing at all.
	_, err = c.MultiStreamAppend(ctx, slices.Values([]kurrentdb.AppendStreamRequest{
		{StreamName: "order-10", Events: slices.Values([]kurrentdb.EventData{event("OrderPlaced", `{}`)}), ExpectedStreamState: kurrentdb.NoStream{}},
		{StreamName: "inventory-1", Events: slices.Values([]kurrentdb.EventData{event("Reserved", `{}`)}), ExpectedStreamState: kurrentdb.Revision(0)},
	}))
	if err == nil || errorCode(t, err) != kurrentdb.ErrorCodeStreamRevisionConflict {
		t.Fatalf("want ErrorCodeStreamRevisionConflict, got %v", err)
	}
	var conflict *kurrentdb.StreamRevisionConflictError
	if !errors.As(err, &conflict) {
		t.Fatalf("want a *kurrentdb.StreamRevisionConflictError in %v", err)
	}
	if conflict.Stream != "inventory-1" || conflict.ExpectedRevision != kurrentdb.Revision(0) ||
		conflict.ActualRevision != kurrentdb.Revision(2) {
		t.Errorf("conflict %+v", conflict)
	}
	if n := len(srv.Events()); n != 4 {
		t.Errorf("log has %d events after a failed session, want 4", n)
	}

	// The same stream twice in one session is refused (ABORTED) and writes nothing.
	_, err = c.MultiStreamAppend(ctx, slices.Values([]kurrentdb.AppendStreamRequest{
		{StreamName: "order-11", Events: slices.Values([]kurrentdb.EventData{event("A", `{}`)}), ExpectedStreamState: kurrentdb.Any{}},
		{StreamName: "order-11", Events: slices.Values([]kurrentdb.EventData{event("B", `{}`)}), ExpectedStreamState: kurrentdb.Any{}},
	}))
	if err == nil || errorCode(t, err) != kurrentdb.ErrorAborted {
		t.Fatalf("want ErrorAborted for a repeated stream, got %v", err)
	}
	if n := len(srv.Events()); n != 4 {
		t.Errorf("log has %d events after a refused session, want 4", n)
	}
}
