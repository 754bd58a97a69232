//go:build !unix

package secretbox

import "io/fs"

// checkPrivate does not check on this system: its permissions are not Unix
// modes. Keep the data directory to the account that runs atrium.
func checkPrivate(fs.FileInfo) error { return nil }

// syncDir does nothing on this system, where a directory cannot be synced.
func syncDir(string) error { return nil }
