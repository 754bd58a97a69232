package minio_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/adapters/minio"
	"github.com/atrium-platform/atrium/documents"
	"github.com/atrium-platform/atrium/documents/storetest"
	"github.com/atrium-platform/atrium/domain/tenant"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startMinIO runs a real MinIO server on loopback, stopped by t.Cleanup.
// `make test` builds the pinned server and names it in ATRIUM_MINIO_BIN
// (with ATRIUM_REQUIRE_MINIO=1, a missing binary fails the test).
func startMinIO(t *testing.T) minio.Config {
	t.Helper()
	bin := os.Getenv("ATRIUM_MINIO_BIN")
	if bin == "" {
		if os.Getenv("ATRIUM_REQUIRE_MINIO") != "" {
			t.Fatal("ATRIUM_MINIO_BIN is not set: build the pinned MinIO server (make test does)")
		}
		t.Skip("no MinIO server binary: run through make test, which builds one")
	}
	addr, console := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "server", t.TempDir(), "--address", addr, "--console-address", console, "--quiet")
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER=atrium-test", "MINIO_ROOT_PASSWORD=atrium-test-secret", "MINIO_BROWSER=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("minio output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/minio/health/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("minio did not start:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond) // polling another process
	}
	cfg := minio.Config{Endpoint: addr, AccessKey: "atrium-test", SecretKey: "atrium-test-secret"}
	// The health probe can answer before the server takes requests: wait
	// until a real operation goes through.
	probe, err := minio.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, err := probe.List(tenant.With(context.Background(), "probe"), "")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("minio never took requests: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond) // polling another process
	}
	return cfg
}

func TestConformance(t *testing.T) {
	cfg := startMinIO(t)
	for name, bucket := range map[string]string{"BucketPerTenant": "", "PrefixPerTenant": "atrium-documents"} {
		t.Run(name, func(t *testing.T) {
			n := 0
			storetest.Run(t, func(t *testing.T) documents.Store {
				c := cfg
				if bucket != "" {
					n++ // a fresh shared bucket per subtest
					c.Bucket = bucket + "-" + string(rune('a'+n))
				}
				s, err := minio.New(c)
				if err != nil {
					t.Fatal(err)
				}
				if bucket == "" {
					// Fresh tenants' buckets per subtest: clear what earlier subtests left.
					clear(t, s)
				}
				return s
			})
		})
	}
}

// clear removes the objects of the tenants the suite uses.
func clear(t *testing.T, s *minio.Store) {
	t.Helper()
	for _, tn := range []tenant.ID{"acme", "globex"} {
		ctx := tenant.With(context.Background(), tn)
		objs, err := s.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if err := s.Delete(ctx, o.Key); err != nil {
				t.Fatal(err)
			}
		}
	}
}
