// Package secretbox keeps small secrets (ERP webhook secrets, DSN passwords)
// encrypted at rest, with a key the operator provides (EnvVar) or, in
// embedded mode, one generated into the data directory (LoadOrCreateKeyFile).
//
// A Box seals a secret for an owner, a tenant and a purpose; what it returns
// is the only form the secret is stored in, by whatever store the caller
// chooses. Events never hold a secret nor its sealed form: they record that
// it changed, with its Fingerprint.
//
// Sealing uses AES-256-GCM from the standard library, with a random 96-bit
// nonce per seal. It was chosen over XChaCha20-Poly1305 because it needs no
// dependency beyond the standard library, runs on AES hardware, and sits in
// Go's FIPS 140-3 module for operators who must run in that mode. Its one
// limit, at most 2^32 seals per key before random nonces risk colliding, is
// far beyond a store that seals once per connection change per tenant; and
// rotation starts a new key anyway.
//
// The associated data binds a sealed secret to its key id, tenant and
// purpose: a sealed value copied into another tenant's record, or from a
// webhook secret into a DSN password, does not open.
//
// # Rotation
//
// The keyring is "kid1:<base64 of 32 bytes>,kid0:<base64 of 32 bytes>":
// the first key seals, every key opens, and each sealed value names the key
// it was sealed with. To rotate: put a new key first and keep the old ones;
// restart; Reseal every stored value (it moves those sealed under an old key
// to the first one); then drop the old keys and restart again. docs/erp.md
// tells operators the same.
//
// Nothing here logs. Errors name what is wrong without key material or
// secrets, and a Box prints as its key ids only.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// EnvVar is the environment variable an operator provides the keyring in.
const EnvVar = "ATRIUM_SECRET_KEY"

// MaxSecretSize is the largest secret Seal takes: secrets here are small
// (a webhook secret, a password).
const MaxSecretSize = 16 << 10

var (
	// ErrInvalidKeyring: the keyring string could not be parsed. The error
	// says which entry and what is wrong with it, never the key.
	ErrInvalidKeyring = errors.New("secretbox: invalid keyring")
	// ErrInvalidOwner: Seal or Open was called without a tenant or purpose.
	ErrInvalidOwner = errors.New("secretbox: a tenant and a purpose are required")
	// ErrSecretSize: Seal was given an empty secret or one over MaxSecretSize.
	ErrSecretSize = errors.New("secretbox: secret is empty or too large")
	// ErrMalformed: the value given to Open is not a sealed secret.
	ErrMalformed = errors.New("secretbox: not a sealed secret")
	// ErrUnknownKey: the value was sealed under a key id that is not in the
	// keyring (an old key dropped before every value was resealed).
	ErrUnknownKey = errors.New("secretbox: sealed under a key that is not in the keyring")
	// ErrNotAuthentic: the value does not open: it was sealed for another
	// tenant or purpose, it was altered, or the key under its id is not the
	// one it was sealed with.
	ErrNotAuthentic = errors.New("secretbox: sealed secret does not open for this tenant and purpose")
)

// sealedVersion starts every sealed value: "v1:<kid>:<base64url of nonce,
// ciphertext and tag>". A later format gets another version.
const sealedVersion = "v1"

// adLabel starts the associated data, so a tag made here is never valid for
// another use of the same key.
const adLabel = "atrium secretbox v1"

// Box seals and opens secrets with a keyring. It is safe for concurrent use.
type Box struct {
	r *ring
}

type ring struct {
	ids   []string // in keyring order: ids[0] seals
	aeads map[string]cipher.AEAD
}

// New returns a Box for keyring, "kid:<base64 of 32 bytes>" entries joined
// by commas, the sealing key first (see the package comment). An error
// wraps ErrInvalidKeyring and names the entry, never its key.
func New(keyring string) (*Box, error) {
	keys, err := parseKeyring(keyring)
	if err != nil {
		return nil, err
	}
	r := &ring{aeads: make(map[string]cipher.AEAD, len(keys))}
	for _, k := range keys {
		block, err := aes.NewCipher(k.key)
		if err != nil {
			return nil, fmt.Errorf("%w: key id %q: %w", ErrInvalidKeyring, k.id, err)
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("%w: key id %q: %w", ErrInvalidKeyring, k.id, err)
		}
		r.ids = append(r.ids, k.id)
		r.aeads[k.id] = aead
	}
	return &Box{r: r}, nil
}

// KeyIDs returns the keyring's key ids in order; the first seals.
func (b *Box) KeyIDs() []string { return append([]string(nil), b.r.ids...) }

// Seal encrypts secret for tenant and purpose (for example "erp.webhook"
// or "erp.dsn") under the keyring's first key. The result is printable
// ASCII, safe to store anywhere, and opens only with Open given the same
// tenant and purpose and a keyring that holds that key.
func (b *Box) Seal(tenant, purpose string, secret []byte) ([]byte, error) {
	if tenant == "" || purpose == "" {
		return nil, ErrInvalidOwner
	}
	if len(secret) == 0 || len(secret) > MaxSecretSize {
		return nil, fmt.Errorf("%w: %d bytes, want 1 to %d", ErrSecretSize, len(secret), MaxSecretSize)
	}
	kid := b.r.ids[0]
	ct := b.r.aeads[kid].Seal(nil, nil, secret, associatedData(kid, tenant, purpose))
	out := make([]byte, 0, len(sealedVersion)+len(kid)+2+base64.RawURLEncoding.EncodedLen(len(ct)))
	out = append(out, sealedVersion...)
	out = append(out, ':')
	out = append(out, kid...)
	out = append(out, ':')
	return base64.RawURLEncoding.AppendEncode(out, ct), nil
}

// Open decrypts a value Seal returned for the same tenant and purpose.
// It fails with ErrMalformed, ErrUnknownKey or ErrNotAuthentic; the error
// never holds the secret.
func (b *Box) Open(tenant, purpose string, sealed []byte) ([]byte, error) {
	secret, _, err := b.open(tenant, purpose, sealed)
	return secret, err
}

// Reseal opens sealed and, when it was sealed under another key than the
// keyring's first, seals it again under the first: changed is true and the
// caller stores the new value in place of the old. A value already under
// the first key is returned as it is, changed false, after checking that
// it opens. Run it over every stored value after putting a new key first,
// before dropping the old one.
func (b *Box) Reseal(tenant, purpose string, sealed []byte) (resealed []byte, changed bool, err error) {
	secret, kid, err := b.open(tenant, purpose, sealed)
	if err != nil {
		return nil, false, err
	}
	if kid == b.r.ids[0] {
		return sealed, false, nil
	}
	out, err := b.Seal(tenant, purpose, secret)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

func (b *Box) open(tenant, purpose string, sealed []byte) (secret []byte, kid string, err error) {
	if tenant == "" || purpose == "" {
		return nil, "", ErrInvalidOwner
	}
	version, rest, ok := strings.Cut(string(sealed), ":")
	if !ok || version != sealedVersion {
		return nil, "", fmt.Errorf("%w: want %s:<key id>:<data>", ErrMalformed, sealedVersion)
	}
	kid, data, ok := strings.Cut(rest, ":")
	if !ok || !validKeyID(kid) {
		return nil, "", fmt.Errorf("%w: no valid key id", ErrMalformed)
	}
	aead, ok := b.r.aeads[kid]
	if !ok {
		return nil, "", fmt.Errorf("%w: key id %q", ErrUnknownKey, kid)
	}
	ct, err := base64.RawURLEncoding.DecodeString(data)
	if err != nil || len(ct) < aead.Overhead() {
		return nil, "", fmt.Errorf("%w: data is not the base64url of a ciphertext", ErrMalformed)
	}
	secret, err = aead.Open(nil, nil, ct, associatedData(kid, tenant, purpose))
	if err != nil {
		return nil, "", fmt.Errorf("%w (key id %q)", ErrNotAuthentic, kid)
	}
	return secret, kid, nil
}

// associatedData binds a ciphertext to its key id and owner. Each field is
// length-prefixed, so tenant "ab" with purpose "c" never reads as tenant
// "a" with purpose "bc".
func associatedData(kid, tenant, purpose string) []byte {
	ad := make([]byte, 0, len(adLabel)+len(kid)+len(tenant)+len(purpose)+3*binary.MaxVarintLen64)
	ad = append(ad, adLabel...)
	for _, f := range [...]string{kid, tenant, purpose} {
		ad = binary.AppendUvarint(ad, uint64(len(f)))
		ad = append(ad, f...)
	}
	return ad
}

// String names the keyring's key ids, never its keys.
func (b Box) String() string {
	if b.r == nil {
		return "secretbox.Box{}"
	}
	return "secretbox.Box{keys: " + strings.Join(b.r.ids, ",") + "}"
}

// Format prints a Box as String does, whatever the verb, so no format
// reaches its keys.
func (b Box) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, b.String()) }

// LogValue logs a Box as its key ids.
func (b Box) LogValue() slog.Value { return slog.StringValue(b.String()) }
