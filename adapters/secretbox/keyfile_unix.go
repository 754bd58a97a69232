//go:build unix

package secretbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// checkPrivate refuses a file that group or others may read or write: it
// holds the keys to every sealed secret.
func checkPrivate(fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("mode %04o lets group or others read or write it (chmod 600 it)", perm)
	}
	return nil
}

// syncDir makes a new file's name durable: a key that sealed secrets and
// then vanished in a power loss would leave them unreadable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("secretbox: key file directory: %w", err)
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("secretbox: key file directory: sync: %w", err)
	}
	return nil
}
