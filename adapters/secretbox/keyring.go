package secretbox

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// KeySize is the size of every key in a keyring: AES-256.
const KeySize = 32

// maxKeyIDLen bounds a key id. A key id is shorter than any base64 form of
// a key (43 characters at least), so an error can name a valid key id
// without ever naming a key given in its place.
const maxKeyIDLen = 32

type keyEntry struct {
	id  string
	key []byte
}

// parseKeyring parses "kid:<base64 key>" entries joined by commas, spaces
// around either part ignored. Its errors wrap ErrInvalidKeyring and name
// the entry by position, and by key id once that is known to be one; they
// never hold the key text nor an entry that could be one.
func parseKeyring(s string) ([]keyEntry, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%w: empty: want kid:<base64 of %d bytes>[,kid:<base64>...]", ErrInvalidKeyring, KeySize)
	}
	var keys []keyEntry
	seen := make(map[string]bool)
	for i, entry := range strings.Split(s, ",") {
		n := i + 1
		id, b64, ok := strings.Cut(entry, ":")
		id, b64 = strings.TrimSpace(id), strings.TrimSpace(b64)
		switch {
		case strings.TrimSpace(entry) == "":
			return nil, fmt.Errorf("%w: entry %d is empty", ErrInvalidKeyring, n)
		case !ok:
			return nil, fmt.Errorf("%w: entry %d has no ':' between key id and key: want kid:<base64 of %d bytes>", ErrInvalidKeyring, n, KeySize)
		case !validKeyID(id):
			return nil, fmt.Errorf("%w: entry %d: the key id must be 1 to %d of A-Z a-z 0-9 . _ -", ErrInvalidKeyring, n, maxKeyIDLen)
		case seen[id]:
			return nil, fmt.Errorf("%w: entry %d: key id %q appears twice", ErrInvalidKeyring, n, id)
		}
		seen[id] = true
		key, err := decodeKey(b64)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d (key id %q): %w", ErrInvalidKeyring, n, id, err)
		}
		keys = append(keys, keyEntry{id: id, key: key})
	}
	return keys, nil
}

// decodeKey decodes standard base64, padded or not. Its error is a
// description, not the decoder's, which would quote the input's offset
// and nothing more today but owes us nothing.
func decodeKey(b64 string) ([]byte, error) {
	if b64 == "" {
		return nil, fmt.Errorf("the key is empty: want the base64 of %d random bytes", KeySize)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil {
		return nil, fmt.Errorf("the key is not standard base64: want the base64 of %d random bytes (openssl rand -base64 %d)", KeySize, KeySize)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("the key decodes to %d bytes, want %d", len(key), KeySize)
	}
	return key, nil
}

func validKeyID(id string) bool {
	if id == "" || len(id) > maxKeyIDLen {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// NewKeyEntry returns a fresh keyring entry, "<kid>:<base64 of 32 random
// bytes>", whose key id is today's date (UTC) and 8 random hex digits,
// like "20260518-9f3a61c2". Put it first in the keyring to rotate.
func NewKeyEntry() (string, error) {
	var b [KeySize + 4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("secretbox: new key: %w", err)
	}
	id := time.Now().UTC().Format("20060102") + "-" + hex.EncodeToString(b[KeySize:])
	return id + ":" + base64.StdEncoding.EncodeToString(b[:KeySize]), nil
}
