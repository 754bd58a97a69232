package secretbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// fingerprintLabel keys the fingerprint's HMAC: a fixed, public label that
// separates these fingerprints from any other SHA-256 of the same bytes.
const fingerprintLabel = "atrium secret fingerprint v1"

// Fingerprint returns a short tag for secret, "sha256:" and the first 12
// hex digits (48 bits) of HMAC-SHA256 keyed with a fixed label: what an
// event records when a secret changes and what an answer may show, so an
// admin or auditor can tell whether two settings used the same secret.
//
// It is safe to show because it cannot be turned back into the secret:
// HMAC-SHA256 is one-way, and 48 bits are far too few to identify a
// webhook secret of 24 to 64 random bytes among its 2^192 and more
// possible values. The fixed label makes it differ from every other
// SHA-256 of the same bytes, so it matches no published hash table nor
// any other system's digest of the secret. It does not depend on the
// keyring, so it stays the same across key rotation. What it cannot hide:
// a secret a person chose from few possibilities (a weak DSN password) can
// be confirmed by hashing guesses; such a password is weak whether or not
// its fingerprint is shown, and the events that hold fingerprints are the
// tenant's own.
func Fingerprint(secret []byte) string {
	m := hmac.New(sha256.New, []byte(fingerprintLabel))
	m.Write(secret)
	return "sha256:" + hex.EncodeToString(m.Sum(nil)[:6])
}
