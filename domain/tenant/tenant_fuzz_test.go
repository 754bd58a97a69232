package tenant

import (
	"errors"
	"strings"
	"testing"
)

// isSlug reports whether s matches ^[a-z][a-z0-9]{1,30}$, written without
// the package's pattern so the two can disagree.
func isSlug(s string) bool {
	if len(s) < 2 || len(s) > 31 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		letter, digit := 'a' <= c && c <= 'z', '0' <= c && c <= '9'
		if !letter && (i == 0 || !digit) {
			return false
		}
	}
	return true
}

// FuzzParse checks Parse and ParseClient against the slug rule: a slug
// that does not match, look-alikes included, is ErrInvalidID; a reserved
// one is refused to clients with ErrReserved; what is accepted is the
// input unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"acme", "a1", "a", "1acme", "Acme", "ac-me", "platform", "admin", "www",
		"acme\n", "acme\x00", " acme", "аcme", "ａｃｍｅ", "acme.", "\xff\xfe", strings.Repeat("a", 31), strings.Repeat("a", 32)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if isSlug(s) != (err == nil) {
			t.Fatalf("Parse(%q) = %q, %v", s, id, err)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidID) || id != "" {
				t.Fatalf("Parse(%q) = %q, %v, want ErrInvalidID", s, id, err)
			}
		} else if string(id) != s {
			t.Fatalf("Parse(%q) = %q", s, id)
		}
		cid, cerr := ParseClient(s)
		switch {
		case err != nil:
			if !errors.Is(cerr, ErrInvalidID) || cid != "" {
				t.Fatalf("ParseClient(%q) = %q, %v, want ErrInvalidID", s, cid, cerr)
			}
		case reserved[id]:
			if !errors.Is(cerr, ErrReserved) || cid != "" {
				t.Fatalf("ParseClient(%q) = %q, %v, want ErrReserved", s, cid, cerr)
			}
		case cerr != nil || cid != id:
			t.Fatalf("ParseClient(%q) = %q, %v, want %q", s, cid, cerr, id)
		}
	})
}
