package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestBadConfigurationExitsWithOneLine runs `atrium serve` with bad settings:
// it exits non-zero and says why on one line.
func TestBadConfigurationExitsWithOneLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ env, says string }{
		{"ATRIUM_BASE_DOMAIN=a b", "ATRIUM_BASE_DOMAIN"},
		{"ATRIUM_NATS_SYNC=sometimes", "ATRIUM_NATS_SYNC"},
		{"ATRIUM_EVENT_STORE=cassandra", "ATRIUM_EVENT_STORE"},
		{"ATRIUM_BOOTSTRAP_ADMIN_EMAIL=root@example.com", "ATRIUM_BOOTSTRAP_ADMIN_PASSWORD"},
		{"ATRIUM_LOG_FORMAT=xml", "ATRIUM_LOG_FORMAT"},
		{"ATRIUM_DEMO=perhaps", "ATRIUM_DEMO"},
		{"ATRIUM_READ_STORE=sqlserver", "ATRIUM_SQLSERVER_URL"},
		{"ATRIUM_READ_STORE=postgres", "ATRIUM_POSTGRES_URL"},
		{"ATRIUM_READ_STORE=oracle", "ATRIUM_READ_STORE"},
		{"ATRIUM_READ_MAX_CONNS=1", "ATRIUM_READ_MAX_CONNS"},
	}
	for _, tc := range tests {
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(os.Environ(), "ATRIUM_DATA_DIR="+t.TempDir(), "ATRIUM_HTTP_ADDR=127.0.0.1:0", tc.env)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if err == nil {
			t.Errorf("%s: exited 0", tc.env)
			continue
		}
		msg := strings.TrimSpace(out.String())
		if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: said %q, want one line naming %s", tc.env, msg, tc.says)
		}
	}
}
