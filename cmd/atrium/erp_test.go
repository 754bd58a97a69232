package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// erpReceiver is an ERP's webhook endpoint: it verifies each message as a
// receiver does, takes a little time over each, and remembers what came.
type erpReceiver struct {
	wh    *standardwebhooks.Webhook
	mu    sync.Mutex
	first []erpMessage // each id's first arrival, in arrival order
	seen  map[string]int
	bad   int
}

type erpMessage struct {
	ID          string `json:"id"`
	Tenant      string `json:"tenant"`
	Type        string `json:"type"`
	AggregateID string `json:"aggregate_id"`
	Position    uint64 `json:"position"`
}

func (r *erpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil || r.wh.Verify(body, req.Header) != nil {
		r.mu.Lock()
		r.bad++
		r.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var m erpMessage
	if err := json.Unmarshal(body, &m); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	time.Sleep(3 * time.Millisecond) // an ERP is slower than Atrium: a backlog forms
	r.mu.Lock()
	if r.seen[m.ID] == 0 {
		r.first = append(r.first, m)
	}
	r.seen[m.ID]++
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *erpReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.first)
}

// TestERPDeliveryAcrossKillDashNine kills `atrium serve` with SIGKILL while
// messages are being delivered to a tenant's ERP, starts it again, and
// finds every acknowledged command's message delivered at least once,
// first arrivals in event order, every one signed.
func TestERPDeliveryAcrossKillDashNine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	rcv := &erpReceiver{wh: wh, seen: map[string]int{}}
	srvERP := httptest.NewServer(rcv)
	t.Cleanup(srvERP.Close)

	dataDir := t.TempDir()
	addr := freeAddr(t)
	env := []string{"ATRIUM_ERP_ALLOW_PRIVATE_TARGETS=true", "ATRIUM_ERP_ACK_WAIT=3s"}
	srv := startServe(t, bin, dataDir, addr, true, env...)
	admin := &apiClient{base: "http://" + addr + "/api/v1", c: &http.Client{Timeout: 10 * time.Second}}
	admin.login(t, "admin")
	resp, b, err := admin.do("PUT", "/erp/connection", "admin",
		fmt.Sprintf(`{"kind":"webhook","url":%q,"secret":%q,"events":["invoice"]}`, srvERP.URL+"/atrium", secret), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("connect: %v %d %s", err, resp.StatusCode, b)
	}
	fin := &apiClient{base: admin.base, c: admin.c}
	fin.login(t, "finance")

	var (
		mu    sync.Mutex
		acked = map[string]bool{} // invoice ids acknowledged
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				body := fmt.Sprintf(`{"client":{"id":"C-E%d","name":"ERP Kill Test"},"currency":"EUR","due_date":"2026-12-31","lines":[{"description":"x","quantity":1,"unit_price":{"amount":%d,"currency":"EUR"}}]}`, w, 1000+i)
				resp, b, err := fin.do("POST", "/invoices", "finance", body, nil)
				if err != nil {
					return // the server died under us: never acknowledged
				}
				if resp.StatusCode != http.StatusCreated {
					t.Errorf("create: %d %s", resp.StatusCode, b)
					return
				}
				var r struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(b, &r); err != nil {
					t.Errorf("create answer %s: %v", b, err)
					return
				}
				mu.Lock()
				acked[r.ID] = true
				n := len(acked)
				mu.Unlock()
				// Kill once deliveries are under way and behind the commands.
				if n >= 150 && rcv.count() >= 10 {
					_ = srv.Process.Signal(syscall.SIGKILL)
				}
			}
		}()
	}
	_ = srv.Wait()
	cancel()
	wg.Wait()
	delivered := rcv.count()
	if len(acked) < 150 || delivered >= len(acked) {
		t.Fatalf("%d acknowledged, %d delivered at the kill: no backlog to lose", len(acked), delivered)
	}
	t.Logf("killed with %d acknowledged, %d delivered", len(acked), delivered)

	startServe(t, bin, dataDir, addr, true, env...)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		rcv.mu.Lock()
		missing := 0
		got := map[string]bool{}
		for _, m := range rcv.first {
			got[m.AggregateID] = true
		}
		for id := range acked {
			if !got[id] {
				missing++
			}
		}
		rcv.mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged invoices never reached the ERP after kill -9 and restart", missing, len(acked))
		}
		time.Sleep(100 * time.Millisecond) // polling the receiver another process feeds
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.bad > 0 {
		t.Fatalf("%d deliveries failed signature verification", rcv.bad)
	}
	for i := 1; i < len(rcv.first); i++ {
		if rcv.first[i].Position < rcv.first[i-1].Position {
			t.Fatalf("out of order: %+v arrived after %+v", rcv.first[i], rcv.first[i-1])
		}
	}
	again := 0
	for _, n := range rcv.seen {
		again += n - 1
	}
	t.Logf("every one of %d acknowledged invoices delivered after kill -9 (%d messages sent twice, as at-least-once allows)", len(acked), again)
}
