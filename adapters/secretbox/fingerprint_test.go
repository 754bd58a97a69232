package secretbox

import (
	"regexp"
	"strings"
	"testing"
)

func TestFingerprint(t *testing.T) {
	t.Parallel()
	secret := []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	fp := Fingerprint(secret)
	if !regexp.MustCompile(`^sha256:[0-9a-f]{12}$`).MatchString(fp) {
		t.Fatalf("Fingerprint = %q, want sha256:<12 hex>", fp)
	}
	if Fingerprint(secret) != fp {
		t.Fatal("the same secret has two fingerprints")
	}
	if Fingerprint([]byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx")) == fp {
		t.Fatal("two secrets have one fingerprint")
	}
	if strings.Contains(fp, "MfKQ") {
		t.Fatal("the fingerprint shows the secret")
	}
	// Events keep fingerprints for ever: the algorithm and its label are
	// fixed, so one computed today matches one recorded years ago.
	if got, want := Fingerprint([]byte("secret")), "sha256:2a7a50756fea"; got != want {
		t.Fatalf("Fingerprint(secret) = %q, want %q (changing it breaks every recorded fingerprint)", got, want)
	}
}
