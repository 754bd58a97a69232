//go:build unix

package jetstream

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// errDirInUse: another server, in this process or another, uses the data
// directory.
var errDirInUse = errors.New("in use by another server")

// lockDir takes an exclusive lock on dir for the life of the server: two
// servers writing one JetStream directory would corrupt it. The kernel
// releases the lock when the process dies, kill -9 included.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, "atrium.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errDirInUse
		}
		return nil, fmt.Errorf("lock: %w", err)
	}
	return func() { _ = f.Close() }, nil
}
