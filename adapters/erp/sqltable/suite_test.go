package sqltable

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/projections/erpsync"
)

// target is a database server the suite runs against, and what the suite
// needs done on it as an administrator.
type target struct {
	driver    string // Postgres or SQLServer
	sqlDriver string // the database/sql driver name
	// quote quotes an identifier.
	quote func(string) string
	// database creates a fresh database, dropped when t ends, and returns
	// an administrator's DSN (a URL) for it.
	database func(t *testing.T) string
	// login creates a login with a password, which may connect to the
	// database of adminDSN and do nothing else there, and returns its DSN
	// and name. It is removed when t ends.
	login func(t *testing.T, adminDSN string) (dsn, name string)
	// grantCreate lets name create tables in the default schema.
	grantCreate func(t *testing.T, adminDSN, name string)
	// setPassword changes name's password.
	setPassword func(t *testing.T, adminDSN, name, password string)
	// disconnect ends name's sessions and returns how many remain.
	disconnect func(t *testing.T, adminDSN, name string) int
	// withDatabase returns dsn naming database db instead.
	withDatabase func(dsn, db string) string
}

// runSuite runs every case against tg.
func runSuite(t *testing.T, tg target) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, tg target)
	}{
		{"CreatesTheTable", testCreatesTheTable},
		{"SchemaQualifiedAndKeywordTables", testSchemaQualifiedAndKeywordTables},
		{"OneRowPerMessage", testOneRowPerMessage},
		{"RepeatWritesNothing", testRepeatWritesNothing},
		{"ConcurrentDeliveriesOfOneIDWriteOneRow", testConcurrentDeliveries},
		{"DroppedTableIsMadeAgain", testDroppedTableIsMadeAgain},
		{"WrongPasswordIsRefusedAndRedacted", testWrongPassword},
		{"RotatedPasswordIsRefused", testRotatedPassword},
		{"MissingDatabaseIsRefused", testMissingDatabase},
		{"RightsAreRespected", testRights},
		{"TableOfAnotherShapeIsRefused", testTableOfAnotherShape},
		{"StoppedServerIsRetried", testStoppedServer},
		{"SilentServerIsRetried", testSilentServer},
		{"EndedContextIsRetried", testEndedContext},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, tg)
		})
	}
}

func testCreatesTheTable(t *testing.T, tg target) {
	dsn := tg.database(t)
	c := newConnector(t, tg, dsn, "erp_messages")
	deliverOK(t, c, message("m1"))

	cols := columns(t, tg, dsn, "", "erp_messages")
	want := []string{"aggregate", "aggregate_id", "data", "id", "occurred_at", "position", "received_at", "tenant", "type", "version"}
	if strings.Join(cols, ",") != strings.Join(want, ",") {
		t.Fatalf("columns %v, want %v", cols, want)
	}
	if pk := primaryKey(t, tg, dsn, "erp_messages"); pk != "id" {
		t.Fatalf("primary key %q, want id", pk)
	}
	// On a table that exists, New creates nothing and loses nothing.
	c2 := newConnector(t, tg, dsn, "erp_messages")
	deliverOK(t, c2, message("m2"))
	if n := count(t, tg, dsn, "erp_messages", ""); n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
}

func testSchemaQualifiedAndKeywordTables(t *testing.T, tg target) {
	dsn := tg.database(t)
	exec(t, tg, dsn, "CREATE SCHEMA erp")
	deliverOK(t, newConnector(t, tg, dsn, "erp.Messages"), message("m1"))
	if cols := columns(t, tg, dsn, "erp", "messages"); len(cols) != 10 {
		t.Fatalf("erp.messages has columns %v, want 10", cols)
	}
	deliverOK(t, newConnector(t, tg, dsn, "order"), message("m1"))
	if n := count(t, tg, dsn, tg.quote("order"), ""); n != 1 {
		t.Fatalf("%d rows in a table named order, want 1", n)
	}
}

func testOneRowPerMessage(t *testing.T, tg target) {
	dsn := tg.database(t)
	c := newConnector(t, tg, dsn, "erp_messages")
	start := time.Now().Add(-time.Minute)
	msgs := []erpsync.Message{message("m1"), message("m2"), message("m3")}
	msgs[1].Data = json.RawMessage(`{"number":"INV-2026-000002","total":{"amount":"99.90","currency":"EUR"},"note":"l'été"}`)
	msgs[2].Data = nil
	for _, m := range msgs {
		deliverOK(t, c, m)
	}
	if n := count(t, tg, dsn, "erp_messages", ""); n != 3 {
		t.Fatalf("%d rows, want 3", n)
	}
	for _, m := range msgs {
		got := readRow(t, tg, dsn, m.ID)
		wantData := string(m.Data)
		if wantData == "" {
			wantData = "null"
		}
		if got.tenant != m.Tenant || got.typ != m.Type || got.aggregate != m.Aggregate || got.aggregateID != m.AggregateID ||
			got.version != int64(m.Version) || got.position != int64(m.Position) || !got.occurredAt.Equal(m.OccurredAt) ||
			got.data != wantData {
			t.Errorf("row %s = %+v, want the message %+v", m.ID, got, m)
		}
		if got.receivedAt.Before(start) || got.receivedAt.After(time.Now().Add(time.Minute)) {
			t.Errorf("row %s received_at %s, want about now", m.ID, got.receivedAt)
		}
	}
}

func testRepeatWritesNothing(t *testing.T, tg target) {
	dsn := tg.database(t)
	c := newConnector(t, tg, dsn, "erp_messages")
	m := message("m1")
	deliverOK(t, c, m)
	again := m
	again.Data = json.RawMessage(`{"changed":true}`)
	deliverOK(t, c, again)
	deliverOK(t, c, m)
	if n := count(t, tg, dsn, "erp_messages", ""); n != 1 {
		t.Fatalf("%d rows after three deliveries of one message, want 1", n)
	}
	if got := readRow(t, tg, dsn, m.ID); got.data != string(m.Data) {
		t.Fatalf("data %s, want the first delivery's %s", got.data, m.Data)
	}
}

func testConcurrentDeliveries(t *testing.T, tg target) {
	dsn := tg.database(t)
	// Three connectors, as if three processes delivered at once, creating
	// the table at once too.
	const connectors, workers, ids = 3, 4, 5
	cs := make([]*Connector, connectors)
	var wg sync.WaitGroup
	errs := make([]error, connectors)
	for i := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cs[i], errs[i] = New(ctx, Config{Driver: tg.driver, DSN: dsn, Table: "erp_messages"})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("New %d of %d at once: %v", i+1, connectors, err)
		}
		t.Cleanup(func() { _ = cs[i].Close() })
	}

	outcomes := make(chan erpsync.Outcome, connectors*workers*ids)
	for i := range connectors * workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := cs[i%connectors]
			for k := range ids {
				id := fmt.Sprintf("m%d", (k+i)%ids) // each worker starts elsewhere
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				outcomes <- c.Deliver(ctx, message(id))
				cancel()
			}
		}()
	}
	wg.Wait()
	close(outcomes)
	for o := range outcomes {
		if !o.Delivered {
			t.Errorf("concurrent delivery: %s (%v), want delivered", kind(o), o.Err)
		}
	}
	if n := count(t, tg, dsn, "erp_messages", ""); n != ids {
		t.Fatalf("%d rows after %d concurrent deliveries of %d messages, want %d", n, connectors*workers*ids, ids, ids)
	}
}

func testDroppedTableIsMadeAgain(t *testing.T, tg target) {
	dsn := tg.database(t)
	c := newConnector(t, tg, dsn, "erp_messages")
	deliverOK(t, c, message("m1"))
	exec(t, tg, dsn, "DROP TABLE erp_messages")
	deliverOK(t, c, message("m2"))
	if n := count(t, tg, dsn, "erp_messages", ""); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

func testWrongPassword(t *testing.T, tg target) {
	admin := tg.database(t)
	dsn, _ := tg.login(t, admin)
	good := password(t, dsn)
	wrong := withPassword(t, dsn, "Wrong-"+randomHex(8)+"-pW1")
	_, err := New(context.Background(), Config{Driver: tg.driver, DSN: wrong, Table: "erp_messages", Timeout: 20 * time.Second})
	if err == nil {
		t.Fatal("New with a wrong password succeeded")
	}
	if errors.Is(err, ErrUnavailable) {
		t.Errorf("a wrong password reported as unavailable (to retry): %v", err)
	}
	checkRedacted(t, err, good, password(t, wrong))
}

func testRotatedPassword(t *testing.T, tg target) {
	admin := tg.database(t)
	dsn, name := tg.login(t, admin)
	tg.grantCreate(t, admin, name)
	c := newConnector(t, tg, dsn, "erp_messages")
	deliverOK(t, c, message("m1"))

	rotated := "Rotated-" + randomHex(8) + "-pW1"
	tg.setPassword(t, admin, name, rotated)
	waitFor(t, "the login's sessions to end", func() bool { return tg.disconnect(t, admin, name) == 0 })

	// The connection the pool held is gone: a first attempt may find it
	// broken (a retry); the next ones must log in again and be refused.
	var o erpsync.Outcome
	for range 3 {
		o = deliver(t, c, message("m2"))
		if !o.Retry {
			break
		}
	}
	checkOutcome(t, o, "refused")
	checkRedacted(t, o.Err, password(t, dsn), rotated)
	if n := count(t, tg, admin, "erp_messages", ""); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

func testMissingDatabase(t *testing.T, tg target) {
	admin := tg.database(t)
	missing := tg.withDatabase(admin, "t_missing_"+randomHex(6))
	_, err := New(context.Background(), Config{Driver: tg.driver, DSN: missing, Table: "erp_messages", Timeout: 20 * time.Second})
	if err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("New on a missing database: %v, want a configuration error", err)
	}
	checkRedacted(t, err, password(t, admin))
}

func testRights(t *testing.T, tg target) {
	admin := tg.database(t)
	dsn, name := tg.login(t, admin)

	// A login that may not create the table: New says so, for good.
	_, err := New(context.Background(), Config{Driver: tg.driver, DSN: dsn, Table: "erp_messages"})
	if err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("New without the right to create the table: %v, want a configuration error", err)
	}
	checkRedacted(t, err, password(t, dsn))

	// Made by someone who may, the table is there: a login that may see
	// it needs no more to open it, but inserting needs the right to.
	newConnector(t, tg, admin, "erp_messages")
	exec(t, tg, admin, "GRANT SELECT ON erp_messages TO "+tg.quote(name))
	c := newConnector(t, tg, dsn, "erp_messages")
	o := deliver(t, c, message("m1"))
	checkOutcome(t, o, "refused")
	checkRedacted(t, o.Err, password(t, dsn))

	exec(t, tg, admin, "GRANT INSERT ON erp_messages TO "+tg.quote(name))
	deliverOK(t, c, message("m1"))
	deliverOK(t, c, message("m1"))
	if n := count(t, tg, admin, "erp_messages", ""); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

func testTableOfAnotherShape(t *testing.T, tg target) {
	dsn := tg.database(t)
	exec(t, tg, dsn, "CREATE TABLE erp_messages (id varchar(64) PRIMARY KEY, note varchar(100))")
	c := newConnector(t, tg, dsn, "erp_messages")
	o := deliver(t, c, message("m1"))
	checkOutcome(t, o, "refused")
	checkRedacted(t, o.Err, password(t, dsn))
}

func testStoppedServer(t *testing.T, tg target) {
	dsn := tg.database(t)
	p := startProxy(t, host(t, dsn))
	viaProxy := withHost(t, dsn, p.addr())
	c := newConnector(t, tg, viaProxy, "erp_messages")
	deliverOK(t, c, message("m1"))

	p.stop()
	for _, id := range []string{"m2", "m3"} { // the pool's connection broken, then none to be had
		o := deliver(t, c, message(id))
		checkOutcome(t, o, "retry")
		checkRedacted(t, o.Err, password(t, dsn))
	}
	_, err := New(context.Background(), Config{Driver: tg.driver, DSN: viaProxy, Table: "erp_messages", Timeout: 20 * time.Second})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("New on a stopped server: %v, want ErrUnavailable", err)
	}
	checkRedacted(t, err, password(t, dsn))
	if n := count(t, tg, dsn, "erp_messages", ""); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

func testSilentServer(t *testing.T, tg target) {
	dsn := tg.database(t)
	p := startProxy(t, host(t, dsn))
	viaProxy := withHost(t, dsn, p.addr())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := New(ctx, Config{Driver: tg.driver, DSN: viaProxy, Table: "erp_messages", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	deliverOK(t, c, message("m1"))

	p.stall()
	o := deliver(t, c, message("m2"))
	checkOutcome(t, o, "retry")
	if !strings.Contains(o.Err.Error(), "no answer within 1s") {
		t.Errorf("error %q does not say the server did not answer", o.Err)
	}
}

func testEndedContext(t *testing.T, tg target) {
	dsn := tg.database(t)
	c := newConnector(t, tg, dsn, "erp_messages")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	checkOutcome(t, c.Deliver(ctx, message("m1")), "retry")
}

// Helpers.

func newConnector(t *testing.T, tg target, dsn, table string) *Connector {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := New(ctx, Config{Driver: tg.driver, DSN: dsn, Table: table})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func message(id string) erpsync.Message {
	return erpsync.Message{
		ID:          id,
		Tenant:      "acme",
		Type:        "invoice.issued",
		Aggregate:   "invoice",
		AggregateID: "6f1c2b9e-3d4a-4e5f-8a7b-9c0d1e2f3a4b",
		Version:     3,
		Position:    1042,
		OccurredAt:  time.Date(2026, 1, 5, 9, 30, 0, 123456000, time.UTC),
		Data:        json.RawMessage(`{"number":"INV-2026-000001"}`),
	}
}

func deliver(t *testing.T, c *Connector, m erpsync.Message) erpsync.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return c.Deliver(ctx, m)
}

func deliverOK(t *testing.T, c *Connector, m erpsync.Message) {
	t.Helper()
	checkOutcome(t, deliver(t, c, m), "delivered")
}

func kind(o erpsync.Outcome) string {
	switch {
	case o.Delivered:
		return "delivered"
	case o.Retry:
		return "retry"
	default:
		return "refused"
	}
}

func checkOutcome(t *testing.T, o erpsync.Outcome, want string) {
	t.Helper()
	if got := kind(o); got != want {
		t.Fatalf("outcome %s (%v), want %s", got, o.Err, want)
	}
	if want != "delivered" && o.Err == nil {
		t.Fatalf("%s without an error", want)
	}
	if o.Err != nil && strings.ContainsAny(o.Err.Error(), "\r\n") {
		t.Fatalf("error on more than one line: %q", o.Err)
	}
}

// checkRedacted fails t if err quotes any of the passwords.
func checkRedacted(t *testing.T, err error, passwords ...string) {
	t.Helper()
	t.Logf("error: %v", err)
	for _, p := range passwords {
		if p != "" && strings.Contains(err.Error(), p) {
			t.Fatalf("error quotes a password: %v", err)
		}
	}
}

// waitFor polls cond until it holds, failing t after 30 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openAs opens a pool on dsn with the database/sql driver sqlDriver;
// the caller closes it.
func openAs(t *testing.T, sqlDriver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(sqlDriver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// execAs runs stmts on dsn, one at a time.
func execAs(t *testing.T, sqlDriver, dsn string, stmts ...string) {
	t.Helper()
	db := openAs(t, sqlDriver, dsn)
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func exec(t *testing.T, tg target, dsn string, stmts ...string) {
	t.Helper()
	execAs(t, tg.sqlDriver, dsn, stmts...)
}

// queryInt runs q, which answers one integer, on dsn.
func queryInt(t *testing.T, sqlDriver, dsn, q string) int {
	t.Helper()
	db := openAs(t, sqlDriver, dsn)
	defer db.Close()
	var n int
	if err := db.QueryRowContext(context.Background(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func count(t *testing.T, tg target, dsn, table, where string) int {
	t.Helper()
	q := "SELECT count(*) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	return queryInt(t, tg.sqlDriver, dsn, q)
}

// columns lists a table's columns, sorted, in lower case.
func columns(t *testing.T, tg target, dsn, schema, table string) []string {
	t.Helper()
	db := openAs(t, tg.sqlDriver, dsn)
	defer db.Close()
	q := "SELECT column_name FROM information_schema.columns WHERE LOWER(table_name) = '" + table + "'"
	if schema != "" {
		q += " AND LOWER(table_schema) = '" + schema + "'"
	}
	rows, err := db.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, strings.ToLower(c))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(cols)
	return cols
}

func primaryKey(t *testing.T, tg target, dsn, table string) string {
	t.Helper()
	db := openAs(t, tg.sqlDriver, dsn)
	defer db.Close()
	var col string
	q := `SELECT k.column_name FROM information_schema.table_constraints c
		JOIN information_schema.key_column_usage k
		  ON k.constraint_name = c.constraint_name AND k.constraint_schema = c.constraint_schema
		WHERE c.constraint_type = 'PRIMARY KEY' AND LOWER(c.table_name) = '` + table + `'`
	if err := db.QueryRowContext(context.Background(), q).Scan(&col); err != nil {
		t.Fatalf("primary key of %s: %v", table, err)
	}
	return strings.ToLower(col)
}

type stagedRow struct {
	tenant, typ, aggregate, aggregateID string
	version, position                   int64
	occurredAt, receivedAt              time.Time
	data                                string
}

func readRow(t *testing.T, tg target, dsn, id string) stagedRow {
	t.Helper()
	db := openAs(t, tg.sqlDriver, dsn)
	defer db.Close()
	var r stagedRow
	q := "SELECT tenant, type, aggregate, aggregate_id, version, position, occurred_at, data, received_at FROM erp_messages WHERE id = '" + id + "'"
	if err := db.QueryRowContext(context.Background(), q).Scan(&r.tenant, &r.typ, &r.aggregate, &r.aggregateID,
		&r.version, &r.position, &r.occurredAt, &r.data, &r.receivedAt); err != nil {
		t.Fatalf("row %s: %v", id, err)
	}
	return r
}

// DSN helpers: the suite's DSNs are URLs.

func password(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := u.User.Password()
	return p
}

func withPassword(t *testing.T, dsn, password string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String()
}

func host(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func withHost(t *testing.T, dsn, hostport string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = hostport
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
