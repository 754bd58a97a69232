package sqlserver_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/atrium-platform/atrium/adapters/sqlserver"
)

func TestQuoteDoublesClosingBrackets(t *testing.T) {
	for in, want := range map[string]string{
		"atrium_acme": "[atrium_acme]",
		"a]b":         "[a]]b]",
		"x]];--":      "[x]]]];--]",
	} {
		if got := (sqlserver.Engine{}).Quote(in); got != want {
			t.Errorf("Quote(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDSNNamesTheLoginAndDatabase(t *testing.T) {
	dsn, err := sqlserver.Engine{}.DSN("sqlserver://sa:secret@db.example:1433?database=master&encrypt=true&user+id=sa&password=secret",
		"atrium_acme", "atrium_acme_a0123456789ab", "0f0f")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dsn, "secret") || strings.Contains(dsn, "sa@") {
		t.Fatalf("DSN keeps the admin's credentials: %s", dsn)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	q := u.Query()
	if u.User.Username() != "atrium_acme_a0123456789ab" || pw != "0f0f" || q.Get("database") != "atrium_acme" ||
		q.Get("encrypt") != "true" || u.Host != "db.example:1433" {
		t.Fatalf("DSN %s", dsn)
	}
}

func TestConnectorErrorHidesThePassword(t *testing.T) {
	_, err := sqlserver.Engine{}.AdminConnector("sqlserver://sa:hunter2@host:notaport")
	if err == nil {
		t.Fatal("an invalid port was accepted")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error shows the password: %v", err)
	}
}

func TestPlaceholdersAreNumberedFromP1(t *testing.T) {
	got := sqlserver.Engine{}.Placeholders()(`SELECT [a?] FROM t WHERE x = ? AND y = '?' AND z = ?`)
	want := `SELECT [a?] FROM t WHERE x = @p1 AND y = '?' AND z = @p2`
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
