package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestHashPassword(t *testing.T) {
	tests := []struct {
		name      string
		pw        string
		withError error
	}{
		{"empty", "", ErrWeakPassword},
		{"9 bytes", strings.Repeat("x", 9), ErrWeakPassword},
		{"10 bytes", strings.Repeat("x", 10), nil},
		{"256 bytes", strings.Repeat("x", 256), nil},
		{"257 bytes", strings.Repeat("x", 257), ErrWeakPassword},
		{"multi-byte runes counted in bytes", "ééééé", nil},
		{"4 runes of 2 bytes", "éééé", ErrWeakPassword},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := HashPassword(tc.pw)
			if !errors.Is(err, tc.withError) {
				t.Fatalf("err = %v, want %v", err, tc.withError)
			}
			if err != nil {
				return
			}
			if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=2,p=2$") {
				t.Fatalf("hash %q", h)
			}
			p, err := parseHash(h)
			if err != nil || len(p.salt) != 16 || len(p.key) != 32 {
				t.Fatalf("parsed %+v %v", p, err)
			}
			if ok, err := CheckPassword(h, tc.pw); !ok || err != nil {
				t.Fatalf("round trip: %v %v", ok, err)
			}
		})
	}
}

func TestHashPasswordSalts(t *testing.T) {
	a, errA := hashWith("correct horse battery", 64, 1)
	b, errB := hashWith("correct horse battery", 64, 1)
	if errA != nil || errB != nil || a == b {
		t.Fatalf("two hashes of one password: %q %q %v %v", a, b, errA, errB)
	}
}

func TestCheckPassword(t *testing.T) {
	const pw = "correct horse battery"
	h, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	cheap, err := hashWith(pw, 64, 1)
	if err != nil {
		t.Fatal(err)
	}
	salt, key := "c2FsdHNhbHRzYWx0c2FsdA", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	tests := []struct {
		name, hash, pw string
		want           bool
		withError      error
	}{
		{"right", h, pw, true, nil},
		{"wrong", h, pw + "!", false, nil},
		{"case differs", h, strings.ToUpper(pw), false, nil},
		{"empty password", h, "", false, nil},
		{"cost read from the hash", cheap, pw, true, nil},
		{"cost read from the hash, wrong", cheap, "incorrect horse", false, nil},
		{"empty hash", "", pw, false, ErrBadHash},
		{"nonsense", "$argon2id$v=19$nonsense", pw, false, ErrBadHash},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", pw, false, ErrBadHash},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=2$" + salt + "$" + key, pw, false, ErrBadHash},
		{"older version", "$argon2id$v=16$m=64,t=1,p=2$" + salt + "$" + key, pw, false, ErrBadHash},
		{"text before", "x$argon2id$v=19$m=64,t=1,p=2$" + salt + "$" + key, pw, false, ErrBadHash},
		{"extra part", cheap + "$x", pw, false, ErrBadHash},
		{"parameters out of order", "$argon2id$v=19$t=1,m=64,p=2$" + salt + "$" + key, pw, false, ErrBadHash},
		{"trailing garbage in parameters", "$argon2id$v=19$m=64,t=1,p=2x$" + salt + "$" + key, pw, false, ErrBadHash},
		{"zero passes", "$argon2id$v=19$m=64,t=0,p=2$" + salt + "$" + key, pw, false, ErrBadHash},
		{"zero lanes", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key, pw, false, ErrBadHash},
		{"absurd memory", "$argon2id$v=19$m=99999999,t=2,p=2$" + salt + "$" + key, pw, false, ErrBadHash},
		{"absurd passes", "$argon2id$v=19$m=64,t=1000,p=2$" + salt + "$" + key, pw, false, ErrBadHash},
		{"absurd lanes", "$argon2id$v=19$m=65536,t=1,p=255$" + salt + "$" + key, pw, false, ErrBadHash},
		{"negative memory", "$argon2id$v=19$m=-1,t=1,p=2$" + salt + "$" + key, pw, false, ErrBadHash},
		{"short salt", "$argon2id$v=19$m=64,t=1,p=2$c2FsdA$" + key, pw, false, ErrBadHash},
		{"short key", "$argon2id$v=19$m=64,t=1,p=2$" + salt + "$a2V5", pw, false, ErrBadHash},
		{"salt not base64", "$argon2id$v=19$m=64,t=1,p=2$!!!!!!!!!!!!$" + key, pw, false, ErrBadHash},
		{"padded base64", "$argon2id$v=19$m=64,t=1,p=2$" + salt + "==$" + key, pw, false, ErrBadHash},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := CheckPassword(tc.hash, tc.pw)
			if ok != tc.want || !errors.Is(err, tc.withError) {
				t.Fatalf("CheckPassword = %v, %v; want %v, %v", ok, err, tc.want, tc.withError)
			}
		})
	}
}

// The dummy check must cost what a real one does: it checks against a hash
// made with the same parameters as the hashes it stands in for.
func TestDummyCheck(t *testing.T) {
	real, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	cheap, err := Argon2{MemoryKiB: 64, Passes: 1}.Hash(context.Background(), "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		dummy     func(string)
		like      string
		memory    uint32
		passes    uint32
		withError error
	}{
		{"DummyCheck", DummyCheck, real, argonMemory, argonTime, nil},
		{"Argon2 zero value", func(pw string) { _ = Argon2{}.Dummy(context.Background(), pw) }, real, argonMemory, argonTime, nil},
		{"Argon2 with a lower cost", func(pw string) { _ = Argon2{MemoryKiB: 64, Passes: 1}.Dummy(context.Background(), pw) }, cheap, 64, 1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.dummy("whatever the caller typed")
			d, err := parseHash(dummyHash(tc.memory, tc.passes))
			if !errors.Is(err, tc.withError) {
				t.Fatalf("dummy hash: %v", err)
			}
			r, _ := parseHash(tc.like)
			if d.memory != r.memory || d.passes != r.passes || d.threads != r.threads || len(d.salt) != len(r.salt) || len(d.key) != len(r.key) {
				t.Fatalf("dummy hash parameters %+v, real ones %+v", d, r)
			}
			if ok, _ := CheckPassword(dummyHash(tc.memory, tc.passes), "whatever the caller typed"); ok {
				t.Fatal("the dummy hash matched a password")
			}
		})
	}
}
