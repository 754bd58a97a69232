package main

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"testing"
	"time"
)

// The JSON object holds the ratios recorded, each with its figure, and
// leaves out a ratio without a finite value rather than failing to encode.
func TestBenchJSONEncoding(t *testing.T) {
	rep := newBenchReport(io.Discard)
	if got := rep.rate("append_1", 200, 50); got != 0.25 {
		t.Fatalf("ratio %v, want 0.25", got)
	}
	rep.rate("append_16", 0, 50)
	rep.ratio("noisy_neighbour_p99", math.NaN())
	rep.ratio("projector", 0.5)
	rep.figure("append_to_visible_lag", lag(300*time.Microsecond, 4*time.Millisecond))
	rep.figure("tenants", tenantsFigure{Tenants: 2, Memory: perTenant(memorySample{Heap: 100}, memorySample{Heap: 300}, 2)})
	var buf bytes.Buffer
	if err := rep.writeJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Ratios  map[string]float64 `json:"ratios"`
		Figures map[string]json.RawMessage
		Machine benchMachine `json:"machine"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, buf.Bytes())
	}
	want := map[string]float64{"append_1": 0.25, "projector": 0.5}
	if len(got.Ratios) != len(want) {
		t.Fatalf("ratios %v, want %v", got.Ratios, want)
	}
	for k, v := range want {
		if got.Ratios[k] != v {
			t.Errorf("ratio %s = %v, want %v", k, got.Ratios[k], v)
		}
	}
	var a1 rateFigure
	if err := json.Unmarshal(got.Figures["append_1"], &a1); err != nil || a1 != (rateFigure{Raw: 200, Measured: 50, Ratio: 0.25}) {
		t.Errorf("figure append_1 %s: %+v %v", got.Figures["append_1"], a1, err)
	}
	var tn tenantsFigure
	if err := json.Unmarshal(got.Figures["tenants"], &tn); err != nil || tn.Memory.HeapPerTenant != 100 || tn.Memory.Resident != "unavailable" || tn.Memory.RSSPerTenant != nil {
		t.Errorf("figure tenants %s: %+v %v", got.Figures["tenants"], tn, err)
	}
	if got.Machine.CPUs < 1 || got.Machine.Go == "" {
		t.Errorf("machine %+v", got.Machine)
	}
}

// A whole run at the smallest sizes: stdout gets one JSON object with a
// ratio for every part run.
func TestBenchJSONRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every part of the bench")
	}
	b := &benchCmd{Duration: 100 * time.Millisecond, Events: 200, Lag: 5, Dir: t.TempDir(), Sync: "default",
		Tenants: 2, Parallel: 2, Noisy: 500 * time.Millisecond, Cluster: true, ReadMaxConns: 10, HTTP: true, Invoices: 20, Replay: 300, Postgres: true, Rounds: 2}
	var report bytes.Buffer
	rep, err := b.run(newBenchReport(&report))
	if err != nil {
		t.Fatalf("%v\n%s", err, report.String())
	}
	var out bytes.Buffer
	if err := rep.writeJSON(&out); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Ratios  map[string]float64         `json:"ratios"`
		Figures map[string]json.RawMessage `json:"figures"`
	}
	dec := json.NewDecoder(&out)
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if dec.More() {
		t.Error("more than one JSON value")
	}
	keys := []string{"append_1", "append_16", "projector", "erp_delivery", "replicated_append_1", "replicated_append_16",
		"replicated_append_1_vs_publish", "replicated_append_16_vs_publish", "noisy_neighbour_p99",
		"http_command", "http_read", "http_command_1", "http_command_16", "http_read_1", "http_read_16", "audit_replay"}
	if _, ok := got.Figures["postgres_tenants"]; ok {
		keys = append(keys, "postgres_projector")
	}
	for _, k := range keys {
		if v, ok := got.Ratios[k]; !ok || v <= 0 {
			t.Errorf("ratio %s: %v, %v", k, v, ok)
		}
	}
	for _, k := range []string{"tenants", "append_to_visible_lag", "event_to_delivered_lag", "http_latency_1", "http_latency_16", "trickle", "audit_replay"} {
		if _, ok := got.Figures[k]; !ok {
			t.Errorf("no figure %s", k)
		}
	}
	var tn tenantsFigure
	if err := json.Unmarshal(got.Figures["tenants"], &tn); err != nil || tn.Tenants != 2 || tn.Memory.HeapAfter == 0 || tn.Memory.Resident == "" {
		t.Errorf("tenants %s: %v", got.Figures["tenants"], err)
	}
	for _, k := range []string{"http_latency_1", "http_latency_16"} {
		var h httpFigure
		if err := json.Unmarshal(got.Figures[k], &h); err != nil || h.Floor <= 0 || h.ReadCeiling <= 0 || h.ReadCeiling >= 1 {
			t.Errorf("%s %s: want a bare answer rate and a read ceiling in (0, 1): %v", k, got.Figures[k], err)
		}
	}
	t.Log(report.String())
}

// The projection's figures are the medians of its rounds.
func TestMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{
		{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(c.xs); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
}
