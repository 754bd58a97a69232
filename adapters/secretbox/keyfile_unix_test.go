//go:build unix

package secretbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Not parallel: the umask belongs to the whole process.
func TestKeyFileCreatedPrivate(t *testing.T) {
	old := syscall.Umask(0) // the widest umask: the file's own mode must be 0600
	t.Cleanup(func() { syscall.Umask(old) })
	path := filepath.Join(t.TempDir(), KeyFileName)
	if _, err := LoadOrCreateKeyFile(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", fi.Mode(), err)
	}
}

func TestLoadOrCreateKeyFileRefusesShared(t *testing.T) {
	t.Parallel()
	raw1, k1 := testKey(1)
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o620, 0o602, 0o660, 0o700 | 0o004} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), KeyFileName)
			if err := os.WriteFile(path, []byte("k1:"+k1+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			ring, err := LoadOrCreateKeyFile(path)
			if !errors.Is(err, ErrUnsafeKeyFile) || ring != "" {
				t.Fatalf("mode %v: err = %v, want ErrUnsafeKeyFile", mode, err)
			}
			if !strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not say which file and what to do", err)
			}
			assertNoKeyMaterial(t, err.Error(), raw1)
		})
	}
	path := filepath.Join(t.TempDir(), KeyFileName)
	if err := os.WriteFile(path, []byte("k1:"+k1+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	if ring, err := LoadOrCreateKeyFile(path); err != nil || ring != "k1:"+k1 {
		t.Fatalf("a 0400 key file: %v", err)
	}
}
