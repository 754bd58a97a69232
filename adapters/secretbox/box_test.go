package secretbox

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// testKey returns a distinct 32-byte key per seed and its base64.
func testKey(seed byte) ([]byte, string) {
	k := bytes.Repeat([]byte{seed}, KeySize)
	for i := range k {
		k[i] ^= byte(i * 7)
	}
	return k, base64.StdEncoding.EncodeToString(k)
}

func newBox(t *testing.T, keyring string) *Box {
	t.Helper()
	b, err := New(keyring)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

// assertNoKeyMaterial fails when s holds a key in any of the forms it
// could leak in: raw, base64 (or an 8-character run of it), hex.
func assertNoKeyMaterial(t *testing.T, s string, keys ...[]byte) {
	t.Helper()
	for _, k := range keys {
		b64 := base64.StdEncoding.EncodeToString(k)
		for i := 0; i+8 <= len(b64)-1; i += 4 { // the last character may be padding
			if strings.Contains(s, b64[i:i+8]) {
				t.Fatalf("%q holds part of a key's base64 %q", s, b64[i:i+8])
			}
		}
		if strings.Contains(s, string(k)) || strings.Contains(s, hex.EncodeToString(k)[:16]) {
			t.Fatalf("%q holds a key", s)
		}
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	_, k := testKey(1)
	b := newBox(t, "k1:"+k)
	tests := []struct {
		name   string
		secret []byte
	}{
		{"one byte", []byte{0}},
		{"webhook secret", []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")},
		{"binary", []byte{0xff, 0x00, ':', ',', '\n', 0x80}},
		{"largest", bytes.Repeat([]byte{'x'}, MaxSecretSize)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sealed, err := b.Seal("acme", "erp.webhook", tc.secret)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if !strings.HasPrefix(string(sealed), "v1:k1:") {
				t.Fatalf("sealed %.20q does not name its key", sealed)
			}
			if bytes.Contains(sealed, tc.secret) && len(tc.secret) > 1 {
				t.Fatal("the sealed value holds the secret")
			}
			for _, c := range sealed {
				if c < 0x21 || c > 0x7e {
					t.Fatalf("sealed value has byte %#x: want printable ASCII", c)
				}
			}
			got, err := b.Open("acme", "erp.webhook", sealed)
			if err != nil || !bytes.Equal(got, tc.secret) {
				t.Fatalf("Open = %.20q, %v", got, err)
			}
		})
	}
}

func TestSealIsRandomized(t *testing.T) {
	t.Parallel()
	_, k := testKey(1)
	b := newBox(t, "k1:"+k)
	s1, err1 := b.Seal("acme", "erp.webhook", []byte("same"))
	s2, err2 := b.Seal("acme", "erp.webhook", []byte("same"))
	if err1 != nil || err2 != nil || bytes.Equal(s1, s2) {
		t.Fatalf("two seals of one secret: %q %q %v %v", s1, s2, err1, err2)
	}
}

func TestSealRefuses(t *testing.T) {
	t.Parallel()
	_, k := testKey(1)
	b := newBox(t, "k1:"+k)
	tests := []struct {
		name            string
		tenant, purpose string
		secret          []byte
		withError       error
	}{
		{"no tenant", "", "erp.webhook", []byte("s"), ErrInvalidOwner},
		{"no purpose", "acme", "", []byte("s"), ErrInvalidOwner},
		{"empty secret", "acme", "erp.webhook", nil, ErrSecretSize},
		{"secret too large", "acme", "erp.webhook", make([]byte, MaxSecretSize+1), ErrSecretSize},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := b.Seal(tc.tenant, tc.purpose, tc.secret); !errors.Is(err, tc.withError) {
				t.Fatalf("Seal err = %v, want %v", err, tc.withError)
			}
		})
	}
}

// A sealed secret is bound to its owner: copied to another tenant's record
// or to another purpose, it does not open.
func TestOpenOtherOwnerFails(t *testing.T) {
	t.Parallel()
	_, k := testKey(1)
	b := newBox(t, "k1:"+k)
	secret := []byte("the acme webhook secret")
	sealed, err := b.Seal("acme", "erp.webhook", secret)
	if err != nil {
		t.Fatal(err)
	}
	abc, err := b.Seal("ab", "cd", secret)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name            string
		tenant, purpose string
		sealed          []byte
		withError       error
	}{
		{"other tenant", "globex", "erp.webhook", sealed, ErrNotAuthentic},
		{"other purpose", "acme", "erp.dsn", sealed, ErrNotAuthentic},
		{"tenant differs in case", "Acme", "erp.webhook", sealed, ErrNotAuthentic},
		{"boundary moved left", "a", "bcd", abc, ErrNotAuthentic},
		{"boundary moved right", "abc", "d", abc, ErrNotAuthentic},
		{"no tenant", "", "erp.webhook", sealed, ErrInvalidOwner},
		{"no purpose", "acme", "", sealed, ErrInvalidOwner},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := b.Open(tc.tenant, tc.purpose, tc.sealed)
			if !errors.Is(err, tc.withError) || got != nil {
				t.Fatalf("Open = %q, %v; want %v", got, err, tc.withError)
			}
			if strings.Contains(err.Error(), string(secret)) {
				t.Fatalf("error %q holds the secret", err)
			}
		})
	}
}

func TestOpenTamperedFails(t *testing.T) {
	t.Parallel()
	_, k1 := testKey(1)
	_, k2 := testKey(2)
	b := newBox(t, "k1:"+k1+",k2:"+k2)
	sealed, err := b.Seal("acme", "erp.webhook", []byte("a secret to tamper with"))
	if err != nil {
		t.Fatal(err)
	}
	data := strings.TrimPrefix(string(sealed), "v1:k1:")
	raw, err := base64.RawURLEncoding.DecodeString(data)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		c := bytes.Clone(raw)
		c[i] ^= 0x01
		return []byte("v1:k1:" + base64.RawURLEncoding.EncodeToString(c))
	}
	tests := []struct {
		name      string
		sealed    []byte
		withError error
	}{
		{"nonce bit flipped", flip(0), ErrNotAuthentic},
		{"ciphertext bit flipped", flip(12), ErrNotAuthentic},
		{"tag bit flipped", flip(len(raw) - 1), ErrNotAuthentic},
		{"truncated", []byte("v1:k1:" + base64.RawURLEncoding.EncodeToString(raw[:len(raw)-1])), ErrNotAuthentic},
		{"relabelled to another key", []byte("v1:k2:" + data), ErrNotAuthentic},
		{"extended", append(bytes.Clone(sealed), 'A', 'A'), ErrNotAuthentic},
		{"shorter than nonce and tag", []byte("v1:k1:" + base64.RawURLEncoding.EncodeToString(raw[:27])), ErrMalformed},
		{"not base64url", []byte("v1:k1:" + data + "+/"), ErrMalformed},
		{"padded base64", []byte("v1:k1:" + data + "="), ErrMalformed},
		{"other version", []byte("v2:k1:" + data), ErrMalformed},
		{"no key id", []byte("v1:" + data), ErrMalformed},
		{"invalid key id", []byte("v1:k 1:" + data), ErrMalformed},
		{"empty", nil, ErrMalformed},
		{"plaintext", []byte("whsec_notsealed"), ErrMalformed},
		{"unknown key id", []byte("v1:k9:" + data), ErrUnknownKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := b.Open("acme", "erp.webhook", tc.sealed)
			if !errors.Is(err, tc.withError) || got != nil {
				t.Fatalf("Open = %q, %v; want %v", got, err, tc.withError)
			}
			if _, _, rerr := b.Reseal("acme", "erp.webhook", tc.sealed); !errors.Is(rerr, tc.withError) {
				t.Fatalf("Reseal err = %v, want %v", rerr, tc.withError)
			}
		})
	}
}

// Rotation as docs/erp.md tells it: a new key first, the old one kept;
// values sealed under the old key still open; Reseal moves them to the
// new key; then the old key can go.
func TestRotation(t *testing.T) {
	t.Parallel()
	_, old := testKey(1)
	_, fresh := testKey(2)
	before := newBox(t, "2025:"+old)
	secret := []byte("postgres password")
	sealedOld, err := before.Seal("acme", "erp.dsn", secret)
	if err != nil {
		t.Fatal(err)
	}

	during := newBox(t, "2026:"+fresh+",2025:"+old)
	if got, err := during.Open("acme", "erp.dsn", sealedOld); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("the old key no longer opens: %q %v", got, err)
	}
	resealed, changed, err := during.Reseal("acme", "erp.dsn", sealedOld)
	if err != nil || !changed || !strings.HasPrefix(string(resealed), "v1:2026:") {
		t.Fatalf("Reseal = %.12q, %v, %v; want it under 2026", resealed, changed, err)
	}
	again, changed, err := during.Reseal("acme", "erp.dsn", resealed)
	if err != nil || changed || !bytes.Equal(again, resealed) {
		t.Fatalf("Reseal of a current value = %.12q, %v, %v; want it unchanged", again, changed, err)
	}
	if _, _, err := during.Reseal("globex", "erp.dsn", sealedOld); !errors.Is(err, ErrNotAuthentic) {
		t.Fatalf("Reseal for another tenant: %v, want ErrNotAuthentic", err)
	}

	after := newBox(t, "2026:"+fresh)
	if got, err := after.Open("acme", "erp.dsn", resealed); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("the resealed value does not open under the new key alone: %q %v", got, err)
	}
	_, err = after.Open("acme", "erp.dsn", sealedOld)
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), `"2025"`) {
		t.Fatalf("a value not resealed: %v; want ErrUnknownKey naming key 2025", err)
	}
}

// A key id names one key: the same id with another key does not open.
func TestOpenSameKeyIDOtherKeyFails(t *testing.T) {
	t.Parallel()
	_, k1 := testKey(1)
	_, k2 := testKey(2)
	sealed, err := newBox(t, "k:"+k1).Seal("acme", "erp.webhook", []byte("s"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newBox(t, "k:"+k2).Open("acme", "erp.webhook", sealed); !errors.Is(err, ErrNotAuthentic) {
		t.Fatalf("err = %v, want ErrNotAuthentic", err)
	}
}

func TestBoxConcurrent(t *testing.T) {
	t.Parallel()
	_, k1 := testKey(1)
	_, k2 := testKey(2)
	b := newBox(t, "k2:"+k2+",k1:"+k1)
	old, err := newBox(t, "k1:"+k1).Seal("acme", "erp.webhook", []byte("old"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			tenant := fmt.Sprintf("t%d", i)
			want := []byte(fmt.Sprintf("secret %d", i))
			for range 50 {
				s, err := b.Seal(tenant, "erp.webhook", want)
				if err != nil {
					errs <- err
					return
				}
				got, err := b.Open(tenant, "erp.webhook", s)
				if err != nil || !bytes.Equal(got, want) {
					errs <- fmt.Errorf("round trip: %q %w", got, err)
					return
				}
				if _, _, err := b.Reseal("acme", "erp.webhook", old); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// However a Box is printed or logged, only its key ids show.
func TestBoxPrintsNoKey(t *testing.T) {
	t.Parallel()
	raw1, k1 := testKey(1)
	raw2, k2 := testKey(2)
	b := newBox(t, "k2:"+k2+",k1:"+k1)
	if got := b.KeyIDs(); len(got) != 2 || got[0] != "k2" || got[1] != "k1" {
		t.Fatalf("KeyIDs = %v", got)
	}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%T %[1]v"} {
		out = append(out, fmt.Sprintf(verb, b), fmt.Sprintf(verb, *b))
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("started", "box", b, "value", *b)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("started", "box", b)
	out = append(out, logs.String())
	for _, s := range out {
		assertNoKeyMaterial(t, s, raw1, raw2)
	}
	if got := fmt.Sprint(b); got != "secretbox.Box{keys: k2,k1}" {
		t.Fatalf("printed as %q", got)
	}
}
