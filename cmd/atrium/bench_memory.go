package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// memorySample is the process's memory at one moment, with what could be
// freed freed first.
type memorySample struct {
	Heap uint64 // heap in use
	RSS  uint64 // resident set; 0 when !RSSOK
	// RSSOK is whether the resident set could be read (/proc/self/status,
	// Linux only).
	RSSOK bool
	// ServerHeap is the part of Heap allocated by the embedded NATS
	// server's code, estimated from the heap profile.
	ServerHeap uint64
}

// measureMemory collects garbage and returns freed memory to the
// operating system before it reads the heap and the resident set, so the
// figures are what the process holds.
func measureMemory() memorySample {
	// The heap profile is as of the last completed collection but one.
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s := memorySample{Heap: m.HeapInuse, ServerHeap: heapOf("github.com/nats-io/nats-server/")}
	s.RSS, s.RSSOK = residentSet()
	return s
}

// settledMemory measures until the heap in use holds still (within 1 MiB
// for 2 s, measured every 200 ms; 30 s at most): work in flight, such as
// the password hash a process computes as it starts, would otherwise count
// as what it holds.
func settledMemory() memorySample {
	ref := measureMemory()
	since := time.Now()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond) // letting work in flight finish
		next := measureMemory()
		if max(next.Heap, ref.Heap)-min(next.Heap, ref.Heap) >= 1<<20 {
			ref, since = next, time.Now()
			continue
		}
		if time.Since(since) >= 2*time.Second {
			return next
		}
	}
	return ref
}

// residentSet reads VmRSS from /proc/self/status.
func residentSet() (uint64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// heapOf estimates the heap in use allocated where a function of the
// package path prefix was on the stack, from the heap profile's samples,
// scaled as pprof scales them.
func heapOf(prefix string) uint64 {
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, true)
	for {
		recs = make([]runtime.MemProfileRecord, n+64)
		var ok bool
		if n, ok = runtime.MemProfile(recs, true); ok {
			recs = recs[:n]
			break
		}
	}
	rate := float64(runtime.MemProfileRate)
	var total float64
	for i := range recs {
		r := &recs[i]
		objs, bytes := r.InUseObjects(), r.InUseBytes()
		if objs <= 0 || bytes <= 0 || !stackIn(r.Stack(), prefix) {
			continue
		}
		scale := 1.0
		if rate > 1 {
			scale = 1 / (1 - math.Exp(-float64(r.AllocBytes)/float64(r.AllocObjects)/rate))
		}
		total += float64(bytes) * scale
	}
	return uint64(total)
}

func stackIn(stack []uintptr, prefix string) bool {
	frames := runtime.CallersFrames(stack)
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, prefix) {
			return true
		}
		if !more {
			return false
		}
	}
}

// memoryFigure is the process's memory before and after it serves n
// tenants, and what one tenant costs: (after - before) / n.
type memoryFigure struct {
	HeapBefore    uint64  `json:"heap_in_use_before_bytes"`
	HeapAfter     uint64  `json:"heap_in_use_after_bytes"`
	HeapPerTenant float64 `json:"heap_per_tenant_bytes"`
	// The resident set: null, and Resident "unavailable", where it
	// cannot be read.
	RSSBefore    *uint64        `json:"resident_before_bytes"`
	RSSAfter     *uint64        `json:"resident_after_bytes"`
	RSSPerTenant *float64       `json:"resident_per_tenant_bytes"`
	Resident     string         `json:"resident"`
	JetStream    jetstreamShare `json:"jetstream"`
}

// jetstreamShare is the embedded NATS server's part of a tenant's cost.
// Its heap is estimated from the heap profile (allocations made by the
// server's code); its resident memory is not separable from the rest of
// the process, one Go runtime holding both.
type jetstreamShare struct {
	HeapBefore    uint64  `json:"heap_before_bytes"`
	HeapAfter     uint64  `json:"heap_after_bytes"`
	HeapPerTenant float64 `json:"heap_per_tenant_bytes"`
	HeapMethod    string  `json:"heap_method"`
	Resident      string  `json:"resident"`
	// The account's JetStream usage once the tenants exist: its streams,
	// consumers and bytes stored on disk and in memory.
	Streams     int    `json:"streams"`
	Consumers   int    `json:"consumers"`
	StoreBytes  uint64 `json:"file_store_bytes"`
	MemoryBytes uint64 `json:"memory_store_bytes"`
	Account     string `json:"account,omitempty"`
}

func perTenant(before, after memorySample, n int) memoryFigure {
	per := func(a, b uint64) float64 { return (float64(b) - float64(a)) / float64(n) }
	f := memoryFigure{HeapBefore: before.Heap, HeapAfter: after.Heap, HeapPerTenant: per(before.Heap, after.Heap), Resident: "unavailable",
		JetStream: jetstreamShare{HeapBefore: before.ServerHeap, HeapAfter: after.ServerHeap, HeapPerTenant: per(before.ServerHeap, after.ServerHeap),
			HeapMethod: "heap profile: in-use bytes allocated by github.com/nats-io/nats-server code, sampled and scaled as pprof does",
			Resident:   "not separable: the server shares this process's Go heap and runtime"}}
	if before.RSSOK && after.RSSOK {
		rb, ra, rp := before.RSS, after.RSS, per(before.RSS, after.RSS)
		f.RSSBefore, f.RSSAfter, f.RSSPerTenant, f.Resident = &rb, &ra, &rp, "VmRSS"
	}
	return f
}

// account adds the JetStream account's usage, or why it is missing.
func (j *jetstreamShare) account(ctx context.Context, nc *nats.Conn) {
	js, err := natsjs.New(nc)
	if err == nil {
		var ai *natsjs.AccountInfo
		if ai, err = js.AccountInfo(ctx); err == nil {
			j.Streams, j.Consumers, j.StoreBytes, j.MemoryBytes = ai.Streams, ai.Consumers, ai.Store, ai.Memory
			return
		}
	}
	j.Account = "unavailable: " + err.Error()
}

func (f memoryFigure) print(rep *benchReport, n int) {
	rep.printf("memory (after a collection, freed memory returned to the OS): heap in use %s before, %s with %d tenants: %s per tenant\n",
		mib(float64(f.HeapBefore)), mib(float64(f.HeapAfter)), n, kib(f.HeapPerTenant))
	if f.RSSPerTenant != nil {
		rep.printf("  resident %s before, %s with %d tenants: %s per tenant\n", mib(float64(*f.RSSBefore)), mib(float64(*f.RSSAfter)), n, kib(*f.RSSPerTenant))
	} else {
		rep.printf("  resident: unavailable on this system\n")
	}
	j := f.JetStream
	rep.printf("  of the heap, the embedded JetStream server's (its allocations in the heap profile): %s before, %s after: %s per tenant\n",
		mib(float64(j.HeapBefore)), mib(float64(j.HeapAfter)), kib(j.HeapPerTenant))
	if j.Account != "" {
		rep.printf("  its resident share is not separable in one process; its account's usage: %s\n", j.Account)
		return
	}
	rep.printf("  its resident share is not separable in one process; its account holds %d streams, %d consumers, %s on disk\n",
		j.Streams, j.Consumers, mib(float64(j.StoreBytes)))
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

func kib(b float64) string { return fmt.Sprintf("%.1f KiB", b/(1<<10)) }
