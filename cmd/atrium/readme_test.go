package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// readmeBlocks returns the shell blocks of the README marked
// <!-- readme-test -->, in order.
func readmeBlocks(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []string
	var cur *strings.Builder
	marked := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur != nil && line == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		case strings.TrimSpace(line) == "<!-- readme-test -->":
			marked = true
		case marked && line == "```sh":
			cur, marked = &strings.Builder{}, false
		case strings.TrimSpace(line) != "":
			marked = false
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// jqPath is a jq to run the README with: the machine's, or gojq built
// from the module proxy when there is none.
func jqPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("jq"); err == nil {
		return filepath.Dir(p)
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "install", "github.com/itchyny/gojq/cmd/gojq@v0.12.20")
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("no jq, and gojq did not build: %v\n%s", err, out)
	}
	if err := os.Rename(filepath.Join(dir, "gojq"), filepath.Join(dir, "jq")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestReadmeWalkThrough runs the README's walk-through, every block marked
// for it in order in one shell, as pasted, against a fresh `atrium serve`
// with the demo seed: every curl must be answered below 400.
func TestReadmeWalkThrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("the README's commands need curl: %v", err)
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	blocks := readmeBlocks(t, filepath.Join(root, "README.md"))
	if len(blocks) < 2 {
		t.Fatalf("%d README blocks marked <!-- readme-test -->, want the walk-through's", len(blocks))
	}
	addr := freeAddr(t)
	// Started as the operators' block says the server is.
	startServe(t, bin, t.TempDir(), addr, true,
		"ATRIUM_BOOTSTRAP_ADMIN_EMAIL=root@example.com", "ATRIUM_BOOTSTRAP_ADMIN_PASSWORD=a long secret")
	port := addr[strings.LastIndex(addr, ":")+1:]
	// The blocks run where a clone's are run, the root, with the binary
	// `make build` would have put in .bin: a directory of links to both.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, ".bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{filepath.Join(dir, ".bin", "atrium"): bin, filepath.Join(dir, "docs"): filepath.Join(root, "docs")}
	for link, target := range links {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	// Every curl of the README fails the script on an answer of 400 or
	// more, and says what it was.
	script := "set -euo pipefail\ncurl() { command curl --fail-with-body \"$@\"; }\n" + strings.Join(blocks, "\n")
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORT="+port, "PATH="+jqPath(t)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"ATRIUM_SESSION_FILE="+filepath.Join(t.TempDir(), "sessions.json"))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("the README's walk-through failed: %v\nstdout:\n%s\nstderr:\n%s", err, tail(out.String(), 3000), errOut.String())
	}
	for _, want := range []string{`"status":"partially_paid"`, `"status":"draft"`, `"status":"submitted"`, `"items":[`, `"payable"`, "initech", "suspended"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the walk-through's answers hold no %s:\n%s", want, tail(out.String(), 3000))
		}
	}
	t.Logf("%d blocks, %d bytes of answers", len(blocks), out.Len())
}
