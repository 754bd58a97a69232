package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTypeScriptClient generates the typed client of docs/examples/typescript
// from the /openapi.json of a running `atrium serve`, compiles it with the
// TypeScript compiler (strict; its lines that the types must refuse are
// marked @ts-expect-error, so a description that lets them through fails
// the build), and runs it against the server: sign in, draft, issue, read
// back. It needs Node.js and npm (the npm registry for `npm ci`); without
// them it is skipped, unless ATRIUM_REQUIRE_NODE=1 (as `make test` sets).
func TestTypeScriptClient(t *testing.T) {
	if testing.Short() {
		t.Skip("installs npm packages and runs the binary")
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("ATRIUM_REQUIRE_NODE") == "1" {
				t.Fatalf("the TypeScript client's test needs %s: %v", tool, err)
			}
			t.Skipf("no %s", tool)
		}
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	startServe(t, bin, t.TempDir(), addr, true)
	base := "http://" + addr

	// A copy of the example, as a team would start from it.
	src, err := filepath.Abs("../../docs/examples/typescript")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "tsconfig.json", "client.ts", "run.ts"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "ATRIUM_URL="+base, "npm_config_audit=false", "npm_config_fund=false", "npm_config_update_notifier=false")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("npm", "ci", "--no-progress")
	run("npm", "run", "generate")
	run("npm", "run", "build")
	out := run("node", "dist/run.js", base, "acme", "admin@demo.example", DemoPassword)
	if !strings.Contains(out, `"status":"issued"`) || !strings.Contains(out, `"total":{"amount":250000,"currency":"EUR"}`) {
		t.Fatalf("the client's invoice: %s", out)
	}
}
