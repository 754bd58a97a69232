//go:build !unix

package jetstream

// lockDir does not lock on this system: run one server per directory.
func lockDir(string) (unlock func(), err error) { return func() {}, nil }
