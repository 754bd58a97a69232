package erp_test

import (
	"net/url"
	"strings"
	"testing"

	erpcmd "github.com/atrium-platform/atrium/commands/erp"
	"github.com/atrium-platform/atrium/domain/erp"
)

// FuzzRedact checks what the API shows of a DSN: never its password, and
// a target that parses back to the same host.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{
		"postgres://erp:s3cret@db.example:5432/erp?sslmode=require",
		"sqlserver://sa:p%40ss@db.example:1433?database=erp&password=other",
		"sqlserver://sa@db.example?database=erp&PWD=x&access_token=y",
		"postgresql://u:pw@[::1]:5432/x",
		"sqlserver://u@h?database=d",
		"postgres://u:pw@h/x#frag",
		"host=db password=x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		for _, kind := range []erp.Kind{erp.Postgres, erp.SQLServer} {
			target, host, err := erpcmd.Redact(kind, dsn)
			if err != nil {
				// The refusal is the same whatever the dsn: it quotes none of it.
				_, _, fixed := erpcmd.Redact(kind, "not a dsn")
				if err.Error() != fixed.Error() {
					t.Fatalf("the refusal of %q varies with it: %v", dsn, err)
				}
				continue
			}
			back, err := url.Parse(target)
			if err != nil || back.Hostname() != host {
				t.Fatalf("target %q does not parse back to host %q: %v", target, host, err)
			}
			if _, set := back.User.Password(); set {
				t.Fatalf("the target %q of %q has a password", target, dsn)
			}
			for k := range back.Query() {
				if l := strings.ToLower(k); strings.Contains(l, "password") || l == "pwd" || strings.Contains(l, "secret") || strings.Contains(l, "token") {
					t.Fatalf("the target %q keeps a password parameter", target)
				}
			}
		}
	})
}

// FuzzParseSecret checks the secret's form: a key of 24 to 64 bytes, or a
// refusal that never quotes it.
func FuzzParseSecret(f *testing.F) {
	for _, s := range []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_c2hvcnQ=", "s3cret", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := erpcmd.ParseSecret(s)
		if err != nil {
			if len(s) > 8 && strings.Contains(err.Error(), s) {
				t.Fatalf("the refusal quotes the secret: %v", err)
			}
			return
		}
		if len(key) < 24 || len(key) > 64 || !strings.HasPrefix(s, "whsec_") {
			t.Fatalf("%q accepted as a key of %d bytes", s, len(key))
		}
	})
}
