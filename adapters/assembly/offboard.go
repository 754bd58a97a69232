package assembly

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	platformaudit "github.com/atrium-platform/atrium/platform/audit"
	"github.com/atrium-platform/atrium/projections/auditchain"
)

// ArchiveManifest is an archive's last entry, manifest.json: what it
// holds, each entry with its SHA-256. An archive without it is incomplete.
type ArchiveManifest struct {
	Format    string            `json:"format"` // "atrium.tenant.archive.v1"
	Tenant    string            `json:"tenant"`
	CreatedAt time.Time         `json:"created_at"`
	Events    uint64            `json:"events"`
	Documents int               `json:"documents"`
	Entries   map[string]string `json:"entries"` // name → sha256, hex
}

// writable refuses a write into a tenant being offboarded (403
// tenant_read_only): the paths that write outside a tenant's API (its
// people signing in) check it too.
func (p *Process) writable(t tenant.ID) error {
	if s, _ := p.Catalog.Get(t); s.ReadOnly {
		return &domain.Error{Kind: domain.Forbidden, Code: "tenant_read_only", Message: "this tenant is being offboarded: it is read-only"}
	}
	return nil
}

// archivist is the principal an archive reads the log as.
var archivist = user.Principal{ID: "platform-archive", Roles: []user.Role{user.Auditor}}

// Archive writes at path a zip of everything the ctx tenant holds:
// tenant.json (the catalog's record of it), events.ndjson (its whole log with each event's link of the hash chain,
// signed: what `atrium audit verify` checks), read-tables.sqlite (its read
// tables), documents/<key> (each document), and manifest.json last.
func (p *Process) Archive(ctx context.Context, path string) (err error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	zw := zip.NewWriter(f)
	m := ArchiveManifest{Format: "atrium.tenant.archive.v1", Tenant: string(t), CreatedAt: p.cfg.Now().UTC(), Entries: map[string]string{}}
	entry := func(name string, write func(w io.Writer) error) error {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: m.CreatedAt})
		if err != nil {
			return err
		}
		h := sha256.New()
		if err := write(io.MultiWriter(w, h)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		m.Entries[name] = hexOf(h)
		return nil
	}

	// Read-only, the log ends here: every read model, the chain too, is
	// made to reach it, so the archive is the whole of the tenant.
	head, err := p.projectedToHead(ctx, time.Minute)
	if err != nil {
		return fmt.Errorf("the tenant's read models have not reached its log's end: %w", err)
	}
	// The tenant as the platform's catalog holds it: name, domains,
	// branding, settings, limits, plan.
	state, _ := p.Catalog.Get(t)
	if err := entry("tenant.json", func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(state)
	}); err != nil {
		return err
	}
	actx := user.With(ctx, archivist)
	v := platformaudit.NewVerifier(p.Store, auditchain.NewQueries(p.Reads), p.Issuer.SignDocument)
	if err := entry("events.ndjson", func(w io.Writer) error {
		start, err := v.StartExport(actx, time.Time{})
		if err != nil {
			return err
		}
		enc := json.NewEncoder(w)
		return v.Export(actx, start, time.Time{},
			func(h platformaudit.ExportHeader) error { return enc.Encode(h) },
			func(l platformaudit.ExportLine) error { return enc.Encode(l) },
			func(tr platformaudit.ExportTrailer) error {
				if tr.Position != uint64(head) {
					return fmt.Errorf("the export ends at %d, the log at %d", tr.Position, head)
				}
				m.Events = tr.Events
				return enc.Encode(tr)
			})
	}); err != nil {
		return err
	}

	dir, err := os.MkdirTemp(filepath.Dir(path), "tables-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tables := filepath.Join(dir, "read-tables.sqlite")
	if err := p.Reads.Snapshot(ctx, tables); err != nil {
		return fmt.Errorf("read tables: %w", err)
	}
	if err := entry("read-tables.sqlite", func(w io.Writer) error { return copyFile(w, tables) }); err != nil {
		return err
	}

	objs, err := p.Documents.List(ctx, "")
	if err != nil {
		return fmt.Errorf("documents: %w", err)
	}
	for _, o := range objs {
		if err := entry("documents/"+o.Key, func(w io.Writer) error {
			rc, _, err := p.Documents.Get(ctx, o.Key)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(w, rc)
			return err
		}); err != nil {
			return err
		}
		m.Documents++
	}
	w, err := zw.Create("manifest.json")
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return err
	}
	return zw.Close()
}

func hexOf(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

func copyFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}
