package webhook

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SecretPrefix starts every signing secret, as the Standard Webhooks
// specification writes them.
const SecretPrefix = "whsec_"

// The length of a secret's key, decoded, in bytes.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
)

// ErrInvalidSecret is returned for a secret that is not "whsec_" followed
// by the standard, padded base64 of 24 to 64 bytes.
var ErrInvalidSecret = errors.New("webhook: invalid secret")

// ParseSecret returns the key of a signing secret: s is "whsec_" followed
// by the standard base64 (with its padding, without spaces or line breaks)
// of 24 to 64 bytes. The error never quotes s.
func ParseSecret(s string) ([]byte, error) {
	enc, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: want %s followed by base64", ErrInvalidSecret, SecretPrefix)
	}
	// Strict still skips line breaks: the key must encode back to exactly
	// what was given.
	key, err := base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil || base64.StdEncoding.EncodeToString(key) != enc {
		return nil, fmt.Errorf("%w: the part after %s is not standard base64", ErrInvalidSecret, SecretPrefix)
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return nil, fmt.Errorf("%w: a key of %d bytes, want %d to %d", ErrInvalidSecret, len(key), MinSecretBytes, MaxSecretBytes)
	}
	return key, nil
}
