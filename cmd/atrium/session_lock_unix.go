//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockSessions takes an exclusive lock on the kept sessions of path until
// unlock: two CLI calls refreshing one session at once would each present
// its refresh token, and the second, a retired one, ends the login.
func lockSessions(path string) (unlock func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("sessions: lock: %w", err)
	}
	return func() { _ = f.Close() }, nil
}
