// Package auth holds the credentials machinery: argon2id password hashes,
// EdDSA-signed access tokens with key ids and their JWKS document, and
// opaque refresh tokens stored only as hashes.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

var (
	// ErrWeakPassword is returned for a password too short or too long.
	ErrWeakPassword = errors.New("auth: password must be 10 to 256 bytes long")
	// ErrBadHash is returned for a stored hash that does not parse, or whose
	// parameters are out of the accepted bounds.
	ErrBadHash = errors.New("auth: malformed password hash")
)

// Password length bounds, in bytes.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 256
)

// argon2id parameters (RFC 9106's second recommended option, 64 MiB).
const (
	argonTime    = 2
	argonMemory  = 64 << 10
	argonThreads = 2
	argonKeyLen  = 32
	saltLen      = 16
)

// Bounds on the parameters read from a stored hash, so that a tampered
// row cannot make a check allocate gigabytes or run for minutes.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxPasses    = 16
	maxThreads   = 16
	minSaltLen   = 8
	minKeyLen    = 16
	maxKeyLen    = 64
)

var b64 = base64.RawStdEncoding

// HashPassword returns the argon2id hash of pw in PHC string format, with
// RFC 9106's parameters (64 MiB, 2 passes, 2 lanes):
//
//	$argon2id$v=19$m=65536,t=2,p=2$<salt>$<key>
//
// It returns ErrWeakPassword for a password shorter than 10 or longer than
// 256 bytes.
func HashPassword(pw string) (string, error) {
	return hashWith(pw, argonMemory, argonTime)
}

func hashWith(pw string, memoryKiB, passes uint32) (string, error) {
	if len(pw) < MinPasswordLen || len(pw) > MaxPasswordLen {
		return "", ErrWeakPassword
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	return encodeHash(pw, salt, memoryKiB, passes), nil
}

func encodeHash(pw string, salt []byte, memoryKiB, passes uint32) string {
	key := argon2.IDKey([]byte(pw), salt, passes, memoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memoryKiB, passes, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// phc is a parsed argon2id hash.
type phc struct {
	memory, passes uint32
	threads        uint8
	salt, key      []byte
}

func parseHash(hash string) (phc, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return phc{}, ErrBadHash
	}
	var h phc
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return phc{}, ErrBadHash
	}
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(params[i], name+"=")
		if !ok {
			return phc{}, ErrBadHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return phc{}, ErrBadHash
		}
		switch name {
		case "m":
			h.memory = uint32(n)
		case "t":
			h.passes = uint32(n)
		case "p":
			if n > maxThreads {
				return phc{}, ErrBadHash
			}
			h.threads = uint8(n)
		}
	}
	if h.memory > maxMemoryKiB || h.memory < 8*uint32(h.threads) || h.passes > maxPasses {
		return phc{}, ErrBadHash
	}
	var err error
	if h.salt, err = b64.Strict().DecodeString(parts[4]); err != nil || len(h.salt) < minSaltLen {
		return phc{}, ErrBadHash
	}
	if h.key, err = b64.Strict().DecodeString(parts[5]); err != nil || len(h.key) < minKeyLen || len(h.key) > maxKeyLen {
		return phc{}, ErrBadHash
	}
	return h, nil
}

// CheckPassword reports whether pw matches hash, comparing the keys in
// constant time. It uses the parameters stored in the hash, so hashes made
// with an older cost still verify. A hash that does not parse returns
// ErrBadHash.
func CheckPassword(hash, pw string) (bool, error) {
	h, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), h.salt, h.passes, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1, nil
}

// dummyHashes holds, per (memory, passes), a hash of a password nobody
// knows, made on first use: checking against it costs what checking a real
// hash made with the same parameters costs.
var dummyHashes sync.Map // [2]uint32 -> string

func dummyHash(memoryKiB, passes uint32) string {
	k := [2]uint32{memoryKiB, passes}
	if h, ok := dummyHashes.Load(k); ok {
		return h.(string)
	}
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt)
	h, _ := dummyHashes.LoadOrStore(k, encodeHash(rand.Text(), salt, memoryKiB, passes))
	return h.(string)
}

// DummyCheck spends the time CheckPassword spends on a hash made by
// HashPassword, and always fails. Call it when a login names an unknown
// email, so that the answer takes as long as for a known one.
func DummyCheck(pw string) {
	dummyCheck(pw, argonMemory, argonTime)
}

func dummyCheck(pw string, memoryKiB, passes uint32) {
	_, _ = CheckPassword(dummyHash(memoryKiB, passes), pw)
}
