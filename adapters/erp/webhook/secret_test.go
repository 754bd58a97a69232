package webhook

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// testSecret signs the tests' requests.
const testSecret = "whsec_U8gO890mNztIkSWYmZIPINXscrKpkiRFEppD5wbvo6U="

func TestParseSecret(t *testing.T) {
	t.Parallel()
	enc := func(n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xA5}, n)) }
	for _, n := range []int{24, 25, 32, 48, 63, 64} {
		key, err := ParseSecret(SecretPrefix + enc(n))
		if err != nil || len(key) != n {
			t.Errorf("a key of %d bytes: %d bytes, %v", n, len(key), err)
		}
	}
	for name, s := range map[string]string{
		"empty":               "",
		"prefix only":         SecretPrefix,
		"no prefix":           enc(32),
		"other prefix":        "whsek_" + enc(32),
		"upper-case prefix":   "WHSEC_" + enc(32),
		"23 bytes":            SecretPrefix + enc(23),
		"65 bytes":            SecretPrefix + enc(65),
		"not base64":          SecretPrefix + "not*base64*at*all*but*long*enough*",
		"missing padding":     SecretPrefix + strings.TrimRight(enc(25), "="),
		"url-safe alphabet":   SecretPrefix + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xFB, 0xEF}, 16)),
		"line break":          SecretPrefix + enc(32)[:20] + "\n" + enc(32)[20:],
		"carriage return":     SecretPrefix + enc(32)[:20] + "\r" + enc(32)[20:],
		"space":               SecretPrefix + enc(32)[:20] + " " + enc(32)[20:],
		"trailing space":      SecretPrefix + enc(32) + " ",
		"non-canonical bits":  SecretPrefix + enc(25)[:len(enc(25))-3] + "B==",
		"space after prefix":  SecretPrefix + " " + enc(32),
		"two secrets":         SecretPrefix + enc(32) + " " + SecretPrefix + enc(32),
		"leading whitespace":  " " + SecretPrefix + enc(32),
		"prefix twice":        SecretPrefix + SecretPrefix + enc(32),
		"not padded multiple": SecretPrefix + enc(32) + "A",
	} {
		key, err := ParseSecret(s)
		if !errors.Is(err, ErrInvalidSecret) || key != nil {
			t.Errorf("%s: %d bytes, %v; want ErrInvalidSecret", name, len(key), err)
			continue
		}
		if body := strings.TrimPrefix(s, SecretPrefix); len(body) > 8 && strings.Contains(err.Error(), body[:8]) {
			t.Errorf("%s: error %q quotes the secret", name, err)
		}
	}
}
