package auth

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// A cheap hash (64 KiB, one pass) of a known password, the same in every run.
const (
	fuzzPassword = "correct horse battery"
	fuzzHash     = "$argon2id$v=19$m=64,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$/nMo9jlWd5Bng6izaW+rvfux+zAJP+XHYQeTY/JYAEY"
)

// FuzzCheckPassword hands arbitrary PHC strings, as a tampered credentials
// row would hold, to the hash parser and CheckPassword: a hash that does
// not parse is ErrBadHash before any work; one that parses has every
// parameter within the bounds that cap a check's memory and time, and
// writes back to itself; a check only ever matches the known password
// against its own hash.
func FuzzCheckPassword(f *testing.F) {
	if got := encodeHash(fuzzPassword, []byte("saltsaltsaltsalt"), 64, 1); got != fuzzHash {
		f.Fatalf("the known hash is %s", got)
	}
	salt, key := "c2FsdHNhbHRzYWx0c2FsdA", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	for _, s := range []struct{ hash, pw string }{
		{fuzzHash, fuzzPassword},
		{fuzzHash, fuzzPassword + "!"},
		{"", ""},
		{"$argon2id$v=19$m=4294967295,t=4294967295,p=255$" + salt + "$" + key, fuzzPassword},
		{"$argon2id$v=19$m=1048577,t=1,p=1$" + salt + "$" + key, fuzzPassword},
		{"$argon2id$v=19$m=1048576,t=16,p=16$" + salt + "$" + key, fuzzPassword},
		{"$argon2id$v=19$m=64,t=17,p=2$" + salt + "$" + key, fuzzPassword},
		{"$argon2id$v=19$m=15,t=1,p=2$" + salt + "$" + key, fuzzPassword},
		{"$argon2id$v=19$m=+64,t=0x1,p=2$" + salt + "$" + key, fuzzPassword},
		{"$argon2id$v=19$m=0064,t=01,p=02$" + salt + "$" + key, fuzzPassword},
		{"$argon2id$v=19$m=64,t=1,p=2$" + salt + "==$" + key, fuzzPassword},
		{"$argon2id$v=19$m=64,t=1,p=2$" + salt + "$" + key + key, fuzzPassword},
		{"$argon2id$v=19$m=64,t=1,p=2$" + strings.Repeat("A", 12<<10) + "$" + key, fuzzPassword},
		{"$argon2id$v=19$m=64,t=1,p=2$\x00\xff$" + key, "\x00"},
		{"$argon2i$v=19$m=64,t=1,p=2$" + salt + "$" + key, fuzzPassword},
	} {
		f.Add(s.hash, s.pw)
	}
	known, err := parseHash(fuzzHash)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, hash, pw string) {
		h, err := parseHash(hash)
		if err != nil {
			if !errors.Is(err, ErrBadHash) {
				t.Fatalf("parseHash(%q): %v, want ErrBadHash", hash, err)
			}
			if ok, err := CheckPassword(hash, pw); ok || !errors.Is(err, ErrBadHash) {
				t.Fatalf("CheckPassword(%q) = %v, %v for a hash that does not parse", hash, ok, err)
			}
			return
		}
		if h.memory < 8*uint32(h.threads) || h.memory > maxMemoryKiB || h.passes < 1 || h.passes > maxPasses ||
			h.threads < 1 || h.threads > maxThreads || len(h.salt) < minSaltLen || len(h.key) < minKeyLen || len(h.key) > maxKeyLen {
			t.Fatalf("parseHash(%q) accepted parameters out of bounds: m=%d t=%d p=%d, %d bytes of salt, %d of key",
				hash, h.memory, h.passes, h.threads, len(h.salt), len(h.key))
		}
		rewritten := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", h.memory, h.passes, h.threads, b64.EncodeToString(h.salt), b64.EncodeToString(h.key))
		if again, err := parseHash(rewritten); err != nil || !samePHC(again, h) {
			t.Fatalf("parseHash(%q) = %+v, written %q, which parses to %+v, %v", hash, h, rewritten, again, err)
		}
		if uint64(h.memory)*uint64(h.passes) > 256 {
			return // within bounds, too slow to check on every input
		}
		ok, err := CheckPassword(hash, pw)
		if err != nil {
			t.Fatalf("CheckPassword(%q): %v for a hash that parses", hash, err)
		}
		if want := samePHC(h, known) && pw == fuzzPassword; ok != want {
			t.Fatalf("CheckPassword(%q, %q) = %v, want %v", hash, pw, ok, want)
		}
	})
}

func samePHC(a, b phc) bool {
	return a.memory == b.memory && a.passes == b.passes && a.threads == b.threads && bytes.Equal(a.salt, b.salt) && bytes.Equal(a.key, b.key)
}
