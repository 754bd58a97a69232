package secretbox

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyFileName is the key file's name in the data directory in embedded
// mode, when EnvVar is not set.
const KeyFileName = "secret.key"

// maxKeyFileSize bounds what is read from a key file: a keyring of many
// keys is a few kilobytes.
const maxKeyFileSize = 64 << 10

// ErrUnsafeKeyFile: the key file is not a regular file, or group or others
// may read or write it.
var ErrUnsafeKeyFile = errors.New("secretbox: unsafe key file")

// LoadOrCreateKeyFile returns the keyring held in the file at path,
// creating the file with one fresh key (NewKeyEntry) when it does not
// exist: embedded mode's key, kept in the data directory.
//
// A new file is written whole, synced, and put in place only if no file is
// there yet, mode 0600, so two processes starting at once end up with one
// key, and a crash leaves either no file or a complete one. An existing
// file must be a regular file that neither group nor others may read or
// write (on systems with Unix permissions), else ErrUnsafeKeyFile; its
// content must parse as a keyring (trimmed of surrounding space), else an
// error wrapping ErrInvalidKeyring. An operator rotates by editing the file
// as they would EnvVar. Errors name the path, never the file's content;
// nothing is logged.
func LoadOrCreateKeyFile(path string) (keyring string, err error) {
	keyring, err = readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return keyring, err
	}
	if err := createKeyFile(path); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	return readKeyFile(path)
}

func readKeyFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("secretbox: key file: %w", err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("secretbox: key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%w: %s is not a regular file", ErrUnsafeKeyFile, path)
	}
	if err := checkPrivate(fi); err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrUnsafeKeyFile, path, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return "", fmt.Errorf("secretbox: key file %s: %w", path, err)
	}
	if len(b) > maxKeyFileSize {
		return "", fmt.Errorf("%w: key file %s is over %d bytes", ErrInvalidKeyring, path, maxKeyFileSize)
	}
	keyring := strings.TrimSpace(string(b))
	if _, err := parseKeyring(keyring); err != nil {
		return "", fmt.Errorf("key file %s: %w", path, err)
	}
	return keyring, nil
}

// createKeyFile writes a fresh key to a temporary file beside path and
// links it into place, which fails with fs.ErrExist when path exists.
func createKeyFile(path string) error {
	entry, err := NewKeyEntry()
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("secretbox: key file directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".secret-key-*") // mode 0600
	if err != nil {
		return fmt.Errorf("secretbox: key file: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	_, werr := tmp.WriteString(entry + "\n")
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("secretbox: key file: write: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("secretbox: key file: %w", err)
	}
	return syncDir(dir)
}
