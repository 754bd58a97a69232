package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// The CLI keeps the platform sessions it opens, so that one call after
// another does not log in again (logins are rate limited and cost an
// argon2id check): the access token while it lasts, then the refresh
// token, rotated on each use. They live in one file in the user's
// configuration directory ($XDG_CONFIG_HOME/atrium/sessions.json, or
// ATRIUM_SESSION_FILE), readable by the user alone (0600), keyed by API
// URL and email.

// savedSession is one kept session.
type savedSession struct {
	AccessToken  string    `json:"access_token"`
	Expires      time.Time `json:"expires"`
	RefreshToken string    `json:"refresh_token"`
}

// sessionFile is the file of kept sessions; empty when there is none to
// use (no configuration directory).
func sessionFile(override string) string {
	if override != "" {
		return override
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "atrium", "sessions.json")
}

func sessionKey(api, email string) string { return api + " " + email }

// loadSessions reads the kept sessions; a missing file is none.
func loadSessions(path string) (map[string]savedSession, error) {
	out := map[string]savedSession{}
	if path == "" {
		return out, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		// A damaged file is replaced at the next login, never trusted.
		return map[string]savedSession{}, nil //nolint:nilerr // damaged: start afresh
	}
	return out, nil
}

// saveSessions writes the kept sessions, readable by the user alone,
// through a temporary file renamed over the old one.
func saveSessions(path string, s map[string]savedSession) error {
	if path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sessions-*")
	if err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("sessions: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("sessions: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	return nil
}
