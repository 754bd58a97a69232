package secretbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateKeyFileCreates(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "var")
	path := filepath.Join(dir, KeyFileName)
	ring, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	b := newBox(t, ring)
	if len(b.KeyIDs()) != 1 {
		t.Fatalf("KeyIDs = %v, want one key", b.KeyIDs())
	}
	again, err := LoadOrCreateKeyFile(path)
	if err != nil || again != ring {
		t.Fatalf("second start: another keyring (%v)", err)
	}
	sealed, err := b.Seal("acme", "erp.webhook", []byte("s"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newBox(t, again).Open("acme", "erp.webhook", sealed); err != nil {
		t.Fatalf("a secret sealed before a restart does not open after it: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 || entries[0].Name() != KeyFileName {
		t.Fatalf("data directory holds %v (%v), want only %s", entries, err, KeyFileName)
	}
}

// Processes starting at once on one data directory end up with one key.
func TestLoadOrCreateKeyFileConcurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), KeyFileName)
	rings := make([]string, 8)
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range rings {
		wg.Go(func() { rings[i], errs[i] = LoadOrCreateKeyFile(path) })
	}
	wg.Wait()
	for i := range rings {
		if errs[i] != nil || rings[i] != rings[0] {
			t.Fatalf("start %d: %v (same keyring: %v)", i, errs[i], rings[i] == rings[0])
		}
	}
}

func TestLoadOrCreateKeyFileRefuses(t *testing.T) {
	t.Parallel()
	raw1, k1 := testKey(1)
	tests := []struct {
		name      string
		content   string
		dir       bool
		withError error
		mentions  string
	}{
		{name: "not a keyring", content: "k1:" + k1[:30] + "\n", withError: ErrInvalidKeyring, mentions: `key id "k1"`},
		{name: "a bare key", content: k1 + "\n", withError: ErrInvalidKeyring, mentions: "entry 1 has no ':'"},
		{name: "empty", content: "", withError: ErrInvalidKeyring, mentions: "empty"},
		{name: "too large", content: "k1:" + k1 + strings.Repeat(" ", maxKeyFileSize), withError: ErrInvalidKeyring, mentions: "over"},
		{name: "a directory", dir: true, withError: ErrUnsafeKeyFile, mentions: "not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), KeyFileName)
			if tc.dir {
				if err := os.Mkdir(path, 0o700); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			ring, err := LoadOrCreateKeyFile(path)
			if !errors.Is(err, tc.withError) || ring != "" {
				t.Fatalf("err = %v, want %v", err, tc.withError)
			}
			if !strings.Contains(err.Error(), tc.mentions) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file and say %q", err, tc.mentions)
			}
			assertNoKeyMaterial(t, err.Error(), raw1)
			if got, _ := os.ReadFile(path); !tc.dir && string(got) != tc.content {
				t.Fatal("a refused key file was changed")
			}
		})
	}
}
