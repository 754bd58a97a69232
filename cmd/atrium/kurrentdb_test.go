package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/adapters/kurrentdb/kurrentdbtest"
)

// TestServeOnKurrentDB runs `atrium serve` with ATRIUM_EVENT_STORE=kurrentdb,
// from outside: the demo tenant is provisioned, a command's events go to
// KurrentDB (not to JetStream), are projected and read back with
// X-Read-After, the audit chain verifies, and after a restart the
// projections resume from their checkpoints. The server is
// ATRIUM_TEST_KURRENTDB_URL when set (make test-integration), else the
// in-process stand-in: against it this proves the process's wiring and the
// wire mapping, not KurrentDB's semantics.
func TestServeOnKurrentDB(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	var standIn *kurrentdbtest.Server
	url := os.Getenv("ATRIUM_TEST_KURRENTDB_URL")
	if url == "" {
		standIn = kurrentdbtest.Start(t)
		url = standIn.URL()
	}
	env := []string{"ATRIUM_EVENT_STORE=kurrentdb", "ATRIUM_KURRENTDB_URL=" + url,
		"ATRIUM_KURRENTDB_NAMESPACE=e2e-" + uuid.NewString()[:8] + ":"}
	dir, addr := t.TempDir(), freeAddr(t)
	first := startServe(t, bin, dir, addr, true, env...)
	api := &apiClient{base: "http://" + addr + "/api/v1", c: &http.Client{Timeout: 30 * time.Second}}
	api.login(t, "finance")
	id, pos := api.createInvoice(t, "Kurrent Client")
	api.readInvoiceAfter(t, id, pos, "Kurrent Client")

	if standIn != nil {
		// The invoice is in KurrentDB, in a stream of the demo tenant.
		found := false
		for _, e := range standIn.Events() {
			if strings.HasSuffix(e.Stream, "acme.invoice-"+id) && e.Position == uint64(pos) {
				found = true
			}
		}
		if !found {
			t.Fatalf("invoice %s at %d is not in KurrentDB's $all", id, pos)
		}
	}

	api.login(t, "auditor")
	resp, b, err := api.do("GET", "/audit/verify", "auditor", "", map[string]string{"X-Read-After": fmt.Sprint(pos)})
	var check struct {
		OK     bool   `json:"ok"`
		Events uint64 `json:"events"`
	}
	if err != nil || resp.StatusCode != http.StatusOK || json.Unmarshal(b, &check) != nil || !check.OK || check.Events == 0 {
		t.Fatalf("audit verify: %v %d %s", err, resp.StatusCode, b)
	}

	// A restart on the same data: the projections resume from their
	// checkpoints and new commands are projected.
	_ = first.Process.Kill()
	_ = first.Wait()
	startServe(t, bin, dir, addr, true, env...)
	api.login(t, "finance")
	api.readInvoiceAfter(t, id, pos, "Kurrent Client")
	id2, pos2 := api.createInvoice(t, "After Restart")
	if pos2 <= pos {
		t.Fatalf("position %d after a restart, before it %d", pos2, pos)
	}
	api.readInvoiceAfter(t, id2, pos2, "After Restart")
}
