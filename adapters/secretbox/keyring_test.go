package secretbox

import (
	"bytes"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestNewKeyring(t *testing.T) {
	t.Parallel()
	raw1, k1 := testKey(1)
	raw2, k2 := testKey(2)
	short := base64.StdEncoding.EncodeToString(raw1[:16])
	tests := []struct {
		name      string
		keyring   string
		ids       []string
		withError error
		// mentions is a part of the error that says what is wrong.
		mentions string
	}{
		{name: "one key", keyring: "k1:" + k1, ids: []string{"k1"}},
		{name: "two keys, spaces, unpadded", keyring: " k2 : " + k2 + " ,\tk1:" + strings.TrimRight(k1, "=") + "\n", ids: []string{"k2", "k1"}},
		{name: "dated key ids", keyring: "20260518-9f3a61c2:" + k2 + ",v0.old_key:" + k1, ids: []string{"20260518-9f3a61c2", "v0.old_key"}},
		{name: "empty", keyring: "", withError: ErrInvalidKeyring, mentions: "empty"},
		{name: "blank", keyring: " \n", withError: ErrInvalidKeyring, mentions: "empty"},
		{name: "a key without its id", keyring: k1, withError: ErrInvalidKeyring, mentions: "entry 1 has no ':'"},
		{name: "key and id swapped", keyring: k1 + ":k1", withError: ErrInvalidKeyring, mentions: "entry 1: the key id must be"},
		{name: "second entry without id", keyring: "k1:" + k1 + "," + k2, withError: ErrInvalidKeyring, mentions: "entry 2 has no ':'"},
		{name: "trailing comma", keyring: "k1:" + k1 + ",", withError: ErrInvalidKeyring, mentions: "entry 2 is empty"},
		{name: "key id with a space", keyring: "k 1:" + k1, withError: ErrInvalidKeyring, mentions: "key id must be"},
		{name: "key id too long", keyring: strings.Repeat("k", 33) + ":" + k1, withError: ErrInvalidKeyring, mentions: "key id must be 1 to 32"},
		{name: "empty key id", keyring: ":" + k1, withError: ErrInvalidKeyring, mentions: "key id must be"},
		{name: "key id twice", keyring: "k1:" + k1 + ",k1:" + k2, withError: ErrInvalidKeyring, mentions: `key id "k1" appears twice`},
		{name: "empty key", keyring: "k1:", withError: ErrInvalidKeyring, mentions: "the key is empty"},
		{name: "key not base64", keyring: "k1:" + k1[:20] + "!" + k1[21:], withError: ErrInvalidKeyring, mentions: `(key id "k1"): the key is not standard base64`},
		{name: "url-safe base64", keyring: "k1:" + strings.ReplaceAll(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, KeySize)), "/", "_"), withError: ErrInvalidKeyring, mentions: "not standard base64"},
		{name: "a key after the key", keyring: "k1:" + k1 + ":" + k2, withError: ErrInvalidKeyring, mentions: "not standard base64"},
		{name: "16-byte key", keyring: "k1:" + short, withError: ErrInvalidKeyring, mentions: "decodes to 16 bytes, want 32"},
		{name: "64-byte key", keyring: "k1:" + k1 + k2, withError: ErrInvalidKeyring, mentions: "not standard base64"},
		{name: "second entry bad", keyring: "k2:" + k2 + ",k1:" + short, withError: ErrInvalidKeyring, mentions: `entry 2 (key id "k1")`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := New(tc.keyring)
			if !errors.Is(err, tc.withError) {
				t.Fatalf("err = %v, want %v", err, tc.withError)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tc.mentions) {
					t.Fatalf("error %q does not say %q", err, tc.mentions)
				}
				assertNoKeyMaterial(t, err.Error(), raw1, raw2)
				return
			}
			if got := strings.Join(b.KeyIDs(), ","); got != strings.Join(tc.ids, ",") {
				t.Fatalf("KeyIDs = %s, want %s", got, strings.Join(tc.ids, ","))
			}
		})
	}
}

func TestNewKeyEntry(t *testing.T) {
	t.Parallel()
	e1, err1 := NewKeyEntry()
	e2, err2 := NewKeyEntry()
	if err1 != nil || err2 != nil || e1 == e2 {
		t.Fatalf("two entries: %v %v (equal: %v)", err1, err2, e1 == e2)
	}
	if !regexp.MustCompile(`^20\d{6}-[0-9a-f]{8}:[A-Za-z0-9+/]{43}=$`).MatchString(e1) {
		t.Fatal("entry does not look like <yyyymmdd>-<8 hex>:<base64 of 32 bytes>")
	}
	b := newBox(t, e1+","+e2)
	if ids := b.KeyIDs(); ids[0] != strings.SplitN(e1, ":", 2)[0] {
		t.Fatalf("KeyIDs = %v", ids)
	}
}
