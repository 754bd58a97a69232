package assembly

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/documents"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/domain/user"
	platformaudit "github.com/atrium-platform/atrium/platform/audit"
	"github.com/atrium-platform/atrium/projections/auditchain"
	"github.com/atrium-platform/atrium/streams"
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
		return errReadOnly
	}
	return nil
}

var errReadOnly = &domain.Error{Kind: domain.Forbidden, Code: "tenant_read_only", Message: "this tenant is being offboarded: it is read-only"}

// writes is the event store as this process's writers see it (commands,
// their idempotency records, the usage meter, the audit chain's heads):
// an append into a read-only tenant's log is refused right before it is
// made, so that a write under way when the tenant was made read-only
// writes nothing. Reads pass through.
func (p *Process) writes() streams.Store { return guardedStore{Store: p.Store, p: p} }

type guardedStore struct {
	streams.Store
	p *Process
}

func (g guardedStore) check(n streams.Name) error {
	if g.p.Catalog == nil {
		return nil // opening: the catalog is not read yet
	}
	return g.p.writable(n.Tenant())
}

func (g guardedStore) Append(ctx context.Context, stream streams.Name, expected streams.ExpectedVersion, events ...streams.EventData) (streams.AppendResult, error) {
	if err := g.check(stream); err != nil {
		return streams.AppendResult{}, err
	}
	return g.Store.Append(ctx, stream, expected, events...)
}

func (g guardedStore) AppendMulti(ctx context.Context, appends ...streams.Append) ([]streams.AppendResult, error) {
	for _, a := range appends {
		if err := g.check(a.Stream); err != nil {
			return nil, err
		}
	}
	return g.Store.AppendMulti(ctx, appends...)
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
		return enc.Encode(map[string]any{"slug": state.ID, "name": state.Name, "domains": state.Domains, "branding": state.Branding,
			"settings": state.Settings, "limits": state.Limits, "plan": state.Plan, "suspended": state.Suspended,
			"read_only": state.ReadOnly, "since": state.Since})
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
		// An object listed may be gone when it is read: an upload refused
		// as its tenant was made read-only drops what it stored. It has no
		// entry (the archive fails if one was created, half written).
		rc, _, err := p.Documents.Get(ctx, o.Key)
		if errors.Is(err, documents.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("documents/%s: %w", o.Key, err)
		}
		err = entry("documents/"+o.Key, func(w io.Writer) error {
			_, err := io.Copy(w, rc)
			return err
		})
		_ = rc.Close()
		if err != nil {
			return err
		}
		m.Documents++
	}
	// Whatever wrote into the log meanwhile (an instance that had not yet
	// heard the tenant was made read-only) fails the archive rather than
	// be left out of it: the log must end where the export ended.
	if now, err := p.Store.Head(ctx); err != nil {
		return err
	} else if now != head {
		return domain.WrongStatef("archive_incomplete", "the tenant's log moved from %d to %d while it was archived: take the archive again", head, now)
	}
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "manifest.json", Method: zip.Deflate, Modified: m.CreatedAt})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	// The platform records where the archive ends: the tenant is deleted
	// only while its log still ends there.
	_, err = p.Tenancy.RecordArchive(ctx, commands.Request{CommandID: uuid.NewString()}, string(t), uint64(head))
	return err
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

// DeleteTenant deletes what the ctx tenant holds, once the catalog has its
// tombstone: its event streams, its read database, its documents, its
// passwords, sealed secrets and logins, and its ERP messages and poisoned
// events; its projection and ERP delivery stop first. Each step is done
// again when asked again, so a deletion that failed half way is finished
// by the next.
func (p *Process) DeleteTenant(ctx context.Context) error {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	if s, _ := p.Catalog.Get(t); s.Exists() {
		return fmt.Errorf("tenant %s is not deleted in the catalog", t)
	}
	var errs []error
	keep := func(what string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	p.forget(ctx, t)
	if d, ok := p.Store.(streams.Deprovisioner); ok {
		keep("events", d.Deprovision(ctx))
	} else {
		keep("events", errors.New("this event store cannot delete a tenant's events"))
	}
	keep("read database", p.dropReads(ctx))
	keep("documents", dropDocuments(ctx, p.Documents))
	keep("secrets", p.Secrets.DropTenant(ctx, t))
	keep("ERP messages and poisoned events", jetstream.ForgetTenant(ctx, p.NC, t))
	return errors.Join(errs...)
}

// forget stops projecting t and delivering its ERP messages here.
func (p *Process) forget(ctx context.Context, t tenant.ID) {
	p.erp.mu.Lock()
	d := p.erp.dispatcher
	p.erp.mu.Unlock()
	if d != nil {
		d.Forget(t)
	}
	if p.Runner != nil {
		_ = p.Runner.Stop(tenant.With(ctx, t))
	}
}

// forgetIn makes store, when it can, create nothing of the ctx tenant
// again (a deleted one), without deleting anything.
func forgetIn(ctx context.Context, store any) {
	if q, ok := store.(quotaDocuments); ok {
		store = q.Store
	}
	if f, ok := store.(interface{ Forget(context.Context) error }); ok {
		_ = f.Forget(ctx) // only marks: fails without a tenant alone
	}
}

// dropReads removes the ctx tenant's read database.
func (p *Process) dropReads(ctx context.Context) error {
	d, ok := p.Reads.(interface{ Drop(context.Context) error })
	if !ok {
		return errors.New("this read store cannot delete a tenant's database")
	}
	return d.Drop(ctx)
}

// dropDocuments deletes every document of the ctx tenant: the store's own
// way when it has one, else one by one.
func dropDocuments(ctx context.Context, store documents.Store) error {
	if q, ok := store.(quotaDocuments); ok {
		store = q.Store
	}
	if d, ok := store.(documents.Dropper); ok {
		return d.Drop(ctx)
	}
	objs, err := store.List(ctx, "")
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := store.Delete(ctx, o.Key); err != nil && !errors.Is(err, documents.ErrNotFound) {
			return err
		}
	}
	return nil
}
