package assembly

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	"github.com/atrium-platform/atrium/adapters/jetstream"
	"github.com/atrium-platform/atrium/adapters/postgres"
	"github.com/atrium-platform/atrium/adapters/serverstore"
	"github.com/atrium-platform/atrium/adapters/sqlite"
	"github.com/atrium-platform/atrium/adapters/sqlserver"
	"github.com/atrium-platform/atrium/domain/tenant"
	"github.com/atrium-platform/atrium/projections"
)

// ReadStore is what the process needs of its read store, whichever it is.
type ReadStore interface {
	projections.ReadStore
	projections.Migrator
	projections.Snapshotter
	// Migrate creates the ctx tenant's read database when needed and
	// brings it to the latest version of every projector's read model.
	Migrate(ctx context.Context, projectors ...projections.Projector) error
	// Reset empties one read model of the ctx tenant, for a rebuild.
	Reset(ctx context.Context, p projections.Projector) error
	// OpenCount is how many tenants' pools are open.
	OpenCount() int
	Close() error
}

var (
	_ ReadStore = (*sqlite.Store)(nil)
	_ ReadStore = (*serverstore.Store)(nil)
)

// openReadStore opens the configured read store.
func (p *Process) openReadStore() (ReadStore, error) {
	open := postgres.Open
	switch p.cfg.ReadStore {
	case StoreSQLServer:
		open = sqlserver.Open
	case StorePostgres:
	default:
		return sqlite.Open(filepath.Join(p.cfg.DataDir, "read"), sqlite.Config{})
	}
	s, err := open(serverstore.Config{URL: p.cfg.ReadServerURL, MaxConns: p.cfg.ReadMaxConns,
		Prefix: p.cfg.ReadPrefix, Credentials: readCredentials{p}, Now: p.cfg.Now})
	if err != nil {
		return nil, err
	}
	p.registerBudget(s.Budget())
	return s, nil
}

// registerBudget exposes the read server's connection budget.
func (p *Process) registerBudget(b *serverstore.Budget) {
	stat := func(i int) func() float64 {
		return func() float64 {
			used, peak, waiting := b.Stats()
			return float64([]int{used, peak, waiting}[i])
		}
	}
	p.Metrics.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "atrium_read_connections", Help: "Connections open to the read store's server, all tenants."}, stat(0)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "atrium_read_connections_peak", Help: "The most connections open to the read store's server at once."}, stat(1)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "atrium_read_connections_waiting", Help: "Requests for a connection to the read store's server waiting for the budget."}, stat(2)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "atrium_read_connections_max", Help: "The connection budget (ATRIUM_READ_MAX_CONNS)."},
			func() float64 { return float64(b.Size()) }),
	)
}

// analytics is the analysts' resource: logins where the store has them.
func (p *Process) analytics() atriumhttp.Analytics {
	a := atriumhttp.Analytics{Snapshots: p.Reads}
	if l, ok := p.Reads.(projections.AnalystLogins); ok {
		a.Logins = l
	}
	return a
}

// purposeReadLogin binds the sealed passwords of tenants' read database
// logins to their use; readLoginName is the name they are kept under.
const (
	purposeReadLogin = "read.login"
	readLoginName    = "readdb"
)

// purposeOf is the purpose a sealed secret kept under name was sealed for.
func purposeOf(name string) string {
	if name == readLoginName {
		return purposeReadLogin
	}
	if isSSOSecret(name) {
		return purposeSSOClient
	}
	return purposeERP
}

// readCredentials keeps the passwords of tenants' read database logins
// sealed in the secrets store, where every instance finds them.
type readCredentials struct{ p *Process }

func (c readCredentials) Password(ctx context.Context, t string) (string, error) {
	if c.p.Secrets == nil || c.p.box == nil {
		return "", errors.New("read credentials: secrets not open yet")
	}
	sealed, err := c.p.Secrets.Sealed(ctx, tenant.ID(t), readLoginName)
	if errors.Is(err, jetstream.ErrNoSealed) {
		return "", fmt.Errorf("%w: %s", serverstore.ErrNoCredentials, t)
	}
	if err != nil {
		return "", err
	}
	pw, err := c.p.box.Open(t, purposeReadLogin, sealed)
	if err != nil {
		return "", fmt.Errorf("read credentials of %s: %w", t, err)
	}
	return string(pw), nil
}

func (c readCredentials) Keep(ctx context.Context, t, password string) (string, error) {
	if c.p.Secrets == nil || c.p.box == nil {
		return "", errors.New("read credentials: secrets not open yet")
	}
	sealed, err := c.p.box.Seal(t, purposeReadLogin, []byte(password))
	if err != nil {
		return "", err
	}
	created, err := c.p.Secrets.CreateSealed(ctx, tenant.ID(t), readLoginName, sealed)
	if err != nil {
		return "", err
	}
	if created {
		return password, nil
	}
	return c.Password(ctx, t)
}
