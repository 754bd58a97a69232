package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/adapters/jetstream"
)

// TestSecondInstanceServesEveryTenant runs two `atrium serve`, each with
// its own data directory and the demo seed on, on one external NATS: the
// second starts although the demo tenants exist already, and answers the
// tenants seeded through the first, with the same rows, from its first
// request; so it does for an invoice created through the first.
func TestSecondInstanceServesEveryTenant(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	nats, err := jetstream.StartServer(jetstream.ServerConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nats.Shutdown)
	natsURL := "ATRIUM_NATS_URL=" + nats.ClientURL()
	addrA, addrB := freeAddr(t), freeAddr(t)
	startServe(t, bin, t.TempDir(), addrA, true, natsURL)
	a := &apiClient{base: "http://" + addrA + "/api/v1", c: &http.Client{Timeout: 10 * time.Second}}
	a.login(t, "finance")
	resp, body, err := a.do("POST", "/invoices", "", `{"client":{"id":"C-2","name":"Second Instance Ltd"},"currency":"EUR","due_date":"2027-01-31","lines":[{"description":"Work","quantity":1,"unit_price":{"amount":12345,"currency":"EUR"}}]}`, nil)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create an invoice through A: %v %d %s", err, resp.StatusCode, body)
	}
	var created struct {
		ID       string `json:"id"`
		Position uint64 `json:"position"`
	}
	if err := json.Unmarshal(body, &created); err != nil {
		t.Fatal(err)
	}
	fromA := invoiceIDs(t, a, created.Position)
	if !slices.Contains(fromA, created.ID) {
		t.Fatalf("A lists %v, without the invoice %s created through it", fromA, created.ID)
	}

	// B, with the demo seed on too, starts on the same NATS.
	startServe(t, bin, t.TempDir(), addrB, true, natsURL)
	b := &apiClient{base: "http://" + addrB + "/api/v1", c: &http.Client{Timeout: 10 * time.Second}}
	b.login(t, "finance") // B's first request for acme
	if fromB := invoiceIDs(t, b, created.Position); !slices.Equal(fromA, fromB) {
		t.Fatalf("B lists the invoices\n%v\nA lists\n%v", fromB, fromA)
	}
	resp, body, err = b.do("GET", "/invoices/"+created.ID, "", "", readAfter(created.Position))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("B: the invoice created through A: %v %d %s", err, resp.StatusCode, body)
	}
}

// invoiceIDs lists the tenant's invoices through a, in the API's order,
// once the list has projected the tenant's log up to position.
func invoiceIDs(t *testing.T, a *apiClient, position uint64) []string {
	t.Helper()
	resp, body, err := a.do("GET", "/invoices?limit=200", "", "", readAfter(position))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("list invoices: %v %d %s", err, resp.StatusCode, body)
	}
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("list invoices: %v: %s", err, body)
	}
	ids := []string{}
	for _, it := range page.Items {
		ids = append(ids, it.ID)
	}
	return ids
}

// readAfter is the header that makes a read wait for position.
func readAfter(position uint64) map[string]string {
	return map[string]string{"X-Read-After": strconv.FormatUint(position, 10)}
}
