package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"time"
)

// benchResult is everything one run of `atrium bench` measured, as
// `atrium bench --json` prints it: the ratio of each measure to its raw
// baseline, the figures behind them, and the machine.
type benchResult struct {
	Ratios  map[string]float64 `json:"ratios"`
	Figures map[string]any     `json:"figures"`
	Machine benchMachine       `json:"machine"`
}

type benchMachine struct {
	CPUs int    `json:"cpus"`
	Go   string `json:"go"`
	OS   string `json:"os"`
	Arch string `json:"arch"`
}

// rateFigure is a throughput measure: its raw baseline and the product's
// path, per second, and their ratio.
type rateFigure struct {
	Raw      float64 `json:"raw_per_s"`
	Measured float64 `json:"measured_per_s"`
	Ratio    float64 `json:"ratio"`
}

// lagFigure is a latency measure's p50 and p99, in milliseconds.
type lagFigure struct {
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
}

func lag(p50, p99 time.Duration) lagFigure { return lagFigure{P50: ms(p50), P99: ms(p99)} }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchReport collects a run's figures and carries the human report: to
// stdout, or to stderr when stdout is the JSON object's.
type benchReport struct {
	out io.Writer
	res benchResult
}

func newBenchReport(out io.Writer) *benchReport {
	return &benchReport{out: out, res: benchResult{
		Ratios: map[string]float64{}, Figures: map[string]any{},
		Machine: benchMachine{CPUs: runtime.GOMAXPROCS(0), Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH},
	}}
}

func (r *benchReport) printf(format string, args ...any) {
	_, _ = fmt.Fprintf(r.out, format, args...)
}

// rate records a throughput measure under key, its ratio among the ratios,
// and returns the ratio.
func (r *benchReport) rate(key string, raw, measured float64) float64 {
	ratio := measured / raw
	r.res.Figures[key] = rateFigure{Raw: raw, Measured: measured, Ratio: finite(ratio)}
	r.ratio(key, ratio)
	return ratio
}

// ratio records a ratio under key; one without a finite value (a baseline
// of zero) is left out rather than invented.
func (r *benchReport) ratio(key string, v float64) {
	if v == finite(v) {
		r.res.Ratios[key] = v
	}
}

// finite is v, or 0 when v is not a finite number (JSON has none).
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// figure records a figure that is not a ratio under key.
func (r *benchReport) figure(key string, v any) { r.res.Figures[key] = v }

// writeJSON writes the run's result as one JSON object.
func (r *benchReport) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.res)
}

// p50p99 are the median and the 99th percentile of xs (sorted in a copy);
// zero for none.
func p50p99(xs []time.Duration) (p50, p99 time.Duration) {
	if len(xs) == 0 {
		return 0, 0
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)/2], xs[min(len(xs)-1, len(xs)*99/100)]
}
