package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/atrium-platform/atrium/platform/audit"
)

type auditCmd struct {
	Export auditExportCmd `cmd:"" help:"Write a tenant's events, with the links of its hash chain and its recorded heads, as NDJSON."`
	Verify auditVerifyCmd `cmd:"" help:"Check an export offline: the chain recomputed over its events, against its links and heads."`
}

type auditExportCmd struct {
	Tenant   string `arg:"" help:"The tenant."`
	From     string `help:"Only events recorded at or after this time (RFC 3339)."`
	To       string `help:"Only events recorded at or before this time (RFC 3339)."`
	Out      string `short:"f" name:"file" help:"Write to this file instead of stdout."`
	API      string `env:"ATRIUM_API_URL" default:"http://localhost:8080" help:"Atrium's base URL."`
	Email    string `env:"ATRIUM_AUDIT_EMAIL" help:"An auditor (or admin) of the tenant to sign in as."`
	Password string `env:"ATRIUM_AUDIT_PASSWORD" help:"Their password."`
}

// Run signs in as the tenant's auditor and streams GET
// /api/v1/audit/export to the file.
func (c *auditExportCmd) Run() error {
	q := url.Values{}
	for name, v := range map[string]string{"from": c.From, "to": c.To} {
		if v == "" {
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
			return fmt.Errorf("--%s %q is not a time in RFC 3339 (2026-11-01T00:00:00Z)", name, v)
		}
		q.Set(name, v)
	}
	if c.Email == "" || c.Password == "" {
		return fmt.Errorf("set ATRIUM_AUDIT_EMAIL and ATRIUM_AUDIT_PASSWORD: an auditor or admin of %s", c.Tenant)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	api := strings.TrimRight(c.API, "/")
	out, status, err := apiRequest(ctx, http.MethodPost, api+"/api/v1/auth/login", "", c.Tenant,
		map[string]string{"email": c.Email, "password": c.Password}, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return refusal(http.MethodPost, "/api/v1/auth/login", status, out)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(out, &tok); err != nil {
		return err
	}
	// To the file only once the whole export has arrived: a refusal or a
	// broken stream leaves an earlier file at that path as it was.
	w := io.Writer(os.Stdout)
	var f *os.File
	if c.Out != "" {
		if f, err = os.CreateTemp(filepath.Dir(c.Out), ".atrium-export-*"); err != nil {
			return err
		}
		defer func() { _ = f.Close(); _ = os.Remove(f.Name()) }() // after the rename: nothing left to remove
		w = f
	}
	path := "/api/v1/audit/export"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	out, status, err = apiRequest(ctx, http.MethodGet, api+path, tok.AccessToken, c.Tenant, nil, w)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return refusal(http.MethodGet, path, status, out)
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return err
		}
		return os.Rename(f.Name(), c.Out)
	}
	return nil
}

type auditVerifyCmd struct {
	File   string `arg:"" type:"existingfile" help:"An export written by atrium audit export."`
	Keys   string `help:"The platform's signing keys, to check the export's signature: its /.well-known/jwks.json, as a URL or a file. Without them only the chain is checked: anyone can recompute a chain over changed events."`
	Output string `short:"o" enum:"table,json" default:"table" help:"How the result is printed: table or json."`
}

// Run checks the export; a chain that breaks, or a signature that does not
// check, exits 1 after saying why.
func (c *auditVerifyCmd) Run() error {
	var keys map[string]ed25519.PublicKey
	if c.Keys != "" {
		var err error
		if keys, err = loadKeys(c.Keys); err != nil {
			return fmt.Errorf("--keys %s: %w", c.Keys, err)
		}
	}
	f, err := os.Open(c.File)
	if err != nil {
		return err
	}
	defer f.Close()
	chk, err := audit.VerifyExport(f, keys)
	if err != nil && chk.Header.Format == "" {
		return fmt.Errorf("%s: %w", c.File, err)
	}
	if c.Output == "json" {
		b, _ := json.Marshal(chk)
		fmt.Println(string(b))
	} else {
		fmt.Printf("tenant         %s\n", chk.Header.Tenant)
		fmt.Printf("events         %d (%d with a link of the chain)\n", chk.Events, chk.Chained)
		if chk.Head != nil {
			fmt.Printf("head           %d %s\n", chk.Head.Position, chk.Head.Hash)
		}
		fmt.Printf("heads checked  %d\n", chk.HeadsChecked)
		if chk.SignedBy != "" {
			fmt.Printf("signed by      the platform's key %s\n", chk.SignedBy)
		}
	}
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", c.File, err)
	case !chk.OK:
		return fmt.Errorf("%s: the chain breaks at position %d: %s", c.File, *chk.FirstBadPosition, chk.Problem)
	}
	if c.Output != "json" {
		if keys == nil {
			fmt.Println("unsigned       the chain holds, but its signature was not checked (give --keys): it could have been recomputed over changed events")
		}
		fmt.Println("ok             the events are what was chained")
	}
	return nil
}

// loadKeys reads a JSON Web Key Set of Ed25519 keys (the platform's
// /.well-known/jwks.json) from a URL or a file.
func loadKeys(from string) (map[string]ed25519.PublicKey, error) {
	var raw []byte
	if strings.HasPrefix(from, "http://") || strings.HasPrefix(from, "https://") {
		client := &http.Client{Timeout: 30 * time.Second}
		resp, err := client.Get(from)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if raw, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20)); err != nil {
			return nil, err
		}
	} else {
		var err error
		if raw, err = os.ReadFile(from); err != nil {
			return nil, err
		}
	}
	var set struct {
		Keys []struct {
			Kty, Crv, X, Kid string
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if k.Kty != "OKP" || k.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize || k.Kid == "" {
			continue
		}
		keys[k.Kid] = ed25519.PublicKey(x)
	}
	if len(keys) == 0 {
		return nil, errors.New("no Ed25519 key in the set")
	}
	return keys, nil
}
