package tenancy

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/atrium-platform/atrium/domain"
)

// hostName reports whether n is a lower-case DNS host name of two labels
// or more, the last of letters only, written without the package's
// pattern so the two can disagree.
func hostName(n string) bool {
	labels := strings.Split(n, ".")
	if len(n) > 253 || len(labels) < 2 {
		return false
	}
	for i, l := range labels {
		if len(l) < 1 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		last := i == len(labels)-1
		for j := range len(l) {
			c := l[j]
			letter, digit := 'a' <= c && c <= 'z', '0' <= c && c <= '9'
			if !letter && (last || (!digit && c != '-')) {
				return false
			}
		}
	}
	return len(labels[len(labels)-1]) >= 2
}

// FuzzValidateDomains checks the custom domains a tenant may claim: what
// is accepted is at most 20 distinct valid host names, none under the base
// domain, sorted, each the normalized form of an input, and accepted again
// unchanged; what is refused is an Invalid domain error. The host names a
// browser may send for an accepted domain (upper case, a port, a final
// dot) normalize to it, so it resolves.
func FuzzValidateDomains(f *testing.F) {
	for _, s := range []struct{ list, base string }{
		{"books.initech.example", "atrium.test"},
		{"Books.Initech.Example.:8443,shop.initech.example", "atrium.test"},
		{"acme.atrium.test", "atrium.test"},
		{"atrium.test", "atrium.test"},
		{"a.b,a.b", "atrium.test"},
		{"A.B,a.b.", "atrium.test"},
		{"-a.example,a-.example,a..example,.example,example", "atrium.test"},
		{"xn--80ak6aa92e.example,bücher.example,ex\x00ample.com", "atrium.test"},
		{"a.b. :80,a.b..", ""},
		{strings.Repeat("a.", 127) + "io", "atrium.test"},
		{strings.Repeat("x.io,", 21), "atrium.test"},
		{"\xff\xfe.example", "\xff"},
	} {
		f.Add(s.list, s.base)
	}
	f.Fuzz(func(t *testing.T, list, base string) {
		in := strings.Split(list, ",")
		out, err := ValidateDomains(in, base)

		wantErr := len(in) > 20
		seen := map[string]bool{}
		for _, d := range in {
			n := NormalizeDomain(d)
			if !hostName(n) || n == base || strings.HasSuffix(n, "."+base) || seen[n] {
				wantErr = true
			}
			seen[n] = true
		}
		if err != nil {
			var de *domain.Error
			if !errors.As(err, &de) || de.Kind != domain.Invalid || !strings.HasPrefix(de.Field, "domains") {
				t.Fatalf("ValidateDomains(%q, %q): %v, want an invalid domain error", in, base, err)
			}
			if !wantErr {
				t.Fatalf("ValidateDomains(%q, %q) refused valid domains: %v", in, base, err)
			}
			return
		}
		if wantErr {
			t.Fatalf("ValidateDomains(%q, %q) = %q, want an error", in, base, out)
		}
		if len(out) != len(in) || !slices.IsSorted(out) || len(slices.Compact(slices.Clone(out))) != len(out) {
			t.Fatalf("ValidateDomains(%q, %q) = %q: not the inputs, sorted and distinct", in, base, out)
		}
		for _, n := range out {
			if !seen[n] {
				t.Fatalf("ValidateDomains(%q, %q) = %q: %q is no input's normal form", in, base, out, n)
			}
			for _, host := range []string{n, strings.ToUpper(n), n + ".", n + ":443", " " + strings.ToUpper(n) + ".:8080 "} {
				if got := NormalizeDomain(host); got != n {
					t.Fatalf("host %q normalizes to %q, not to the domain %q", host, got, n)
				}
			}
		}
		again, err := ValidateDomains(out, base)
		if err != nil || !slices.Equal(again, out) {
			t.Fatalf("ValidateDomains(%q, %q) = %q, but that validates to %q, %v", in, base, out, again, err)
		}
	})
}
