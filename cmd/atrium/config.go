package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/atrium-platform/atrium/adapters/assembly"
	atriumhttp "github.com/atrium-platform/atrium/adapters/http"
	"github.com/atrium-platform/atrium/adapters/minio"
	"github.com/atrium-platform/atrium/modules"
)

// config is serve's configuration, read from the environment (CONTRACT.md
// section 1): the stores (storeConfig, which the maintenance commands
// share) and what only a serving process needs. Every field is optional;
// validate reports every problem at once.
type config struct {
	storeConfig
	HTTPAddr     string `env:"ATRIUM_HTTP_ADDR" default:":8080" help:"HTTP listen address."`
	BaseDomain   string `env:"ATRIUM_BASE_DOMAIN" default:"localhost" help:"Tenants are served at <slug>.<base domain>."`
	Demo         bool   `env:"ATRIUM_DEMO" default:"true" negatable:"" help:"Seed the demo tenants on an empty data dir."`
	NATSListen   string `env:"ATRIUM_NATS_LISTEN" name:"nats-listen" help:"Also expose the embedded NATS server on this address (e.g. 127.0.0.1:4222)."`
	ReadAfterMax string `env:"ATRIUM_READ_AFTER_MAX" default:"5s" help:"Longest a read waits for X-Read-After."`
	AdminEmail   string `env:"ATRIUM_BOOTSTRAP_ADMIN_EMAIL" name:"bootstrap-admin-email" help:"Make this address a platform administrator on start."`
	AdminPass    string `env:"ATRIUM_BOOTSTRAP_ADMIN_PASSWORD" name:"bootstrap-admin-password" help:"Their password, when the account is new."`
	// TrustedProxies name the reverse proxies whose X-Forwarded-For is the
	// client's address (for per-address login limits).
	TrustedProxies []string `env:"ATRIUM_TRUSTED_PROXIES" sep:"," help:"Reverse proxies (IPs or CIDR ranges, comma-separated) whose X-Forwarded-For names the client."`
	ConsoleHosts   []string `env:"ATRIUM_CONSOLE_HOSTS" sep:"," help:"Host names the operator console (/console) answers on besides the base domain and localhost (comma-separated); any other host is 404."`
	MetricsToken   string   `env:"ATRIUM_METRICS_TOKEN" help:"Bearer token /metrics requires (empty: /metrics is open)."`
	// ERPAllowPrivate lets ERP connections reach private addresses.
	ERPAllowPrivate bool `env:"ATRIUM_ERP_ALLOW_PRIVATE_TARGETS" name:"erp-allow-private-targets" help:"Let ERP connections reach loopback, private and link-local addresses (an on-premises ERP)."`
	// ERPAckWait is how long a message in delivery is held before the bus
	// hands it out again (after a crash of the instance delivering it).
	ERPAckWait string `env:"ATRIUM_ERP_ACK_WAIT" name:"erp-ack-wait" default:"60s" help:"How long one ERP delivery, with its retries in place, may hold a message before the bus hands it out again (the wait after a crash)."`
	// SSOAllowPrivate lets tenants' identity providers be on private
	// addresses.
	SSOAllowPrivate bool `env:"ATRIUM_SSO_ALLOW_PRIVATE_ISSUERS" name:"sso-allow-private-issuers" help:"Let tenants' OpenID Connect issuers be on loopback, private and link-local addresses (a provider inside the operator's network)."`
	// Billing receives each tenant's usage of each day once it is closed.
	BillingURL    string `env:"ATRIUM_BILLING_URL" name:"billing-url" help:"Where each tenant's usage of each day (UTC) is POSTed once the day is closed, signed (Standard Webhooks); empty: kept, not sent."`
	BillingSecret string `env:"ATRIUM_BILLING_SECRET" name:"billing-secret" help:"The billing webhook's signing secret: whsec_ and the base64 of 24 to 64 bytes."`
}

// storeConfig is where the data is: the event store, the read store, the
// documents and the key sealing secrets. serve, migrate and secrets
// reseal read it.
type storeConfig struct {
	DataDir       string `env:"ATRIUM_DATA_DIR" default:"./var" help:"Where embedded engines keep their data."`
	LogFormat     string `env:"ATRIUM_LOG_FORMAT" default:"json" help:"Log format: json or text."`
	EventStore    string `env:"ATRIUM_EVENT_STORE" default:"jetstream" help:"Event store: jetstream (NATS JetStream, embedded or ATRIUM_NATS_URL) or kurrentdb (the KurrentDB of ATRIUM_KURRENTDB_URL, 25.1 or later)."`
	KurrentDBURL  string `env:"ATRIUM_KURRENTDB_URL" name:"kurrentdb-url" help:"KurrentDB connection string when ATRIUM_EVENT_STORE=kurrentdb (kurrentdb://admin:changeit@host:2113, ?tls=false for an insecure node)."`
	KurrentDBNS   string `env:"ATRIUM_KURRENTDB_NAMESPACE" name:"kurrentdb-namespace" help:"Prefixes every KurrentDB stream name, for deployments sharing one server; empty: streams are <tenant>.<aggregate>-<id>."`
	ReadStore     string `env:"ATRIUM_READ_STORE" default:"sqlite" help:"Read store: sqlite (a file per tenant under the data dir), postgres (a database per tenant on ATRIUM_POSTGRES_URL) or sqlserver (a database per tenant on ATRIUM_SQLSERVER_URL)."`
	PostgresURL   string `env:"ATRIUM_POSTGRES_URL" name:"postgres-url" help:"PostgreSQL server of the read store, as an account with CREATEDB and CREATEROLE (postgres://user:pass@host:5432/postgres)."`
	SQLServerURL  string `env:"ATRIUM_SQLSERVER_URL" name:"sqlserver-url" help:"SQL Server of the read store, as a login that may create databases and logins (sqlserver://user:pass@host:1433)."`
	ReadDBPrefix  string `env:"ATRIUM_READ_DB_PREFIX" name:"read-db-prefix" default:"atrium_" help:"Starts the name of every tenant database and login the server read store creates (atrium_<slug>); give each deployment sharing a server its own."`
	ReadMaxConns  int    `env:"ATRIUM_READ_MAX_CONNS" default:"50" help:"Most connections this process holds to the read store's server, all tenants together."`
	NATSURL       string `env:"ATRIUM_NATS_URL" name:"nats-url" help:"External NATS server, or every server of a NATS cluster (comma-separated URLs); empty runs one embedded in-process."`
	NATSReplicas  int    `env:"ATRIUM_NATS_REPLICAS" name:"nats-replicas" default:"1" help:"Servers of the NATS cluster keeping each stream, key-value bucket and object store: 1, 3 or 5 (more than 1 needs ATRIUM_NATS_URL)."`
	NATSSync      string `env:"ATRIUM_NATS_SYNC" name:"nats-sync" default:"default" help:"Embedded JetStream fsync: 'default' (every 2 min), 'always' (every acknowledged append), or a duration."`
	ObjectStore   string `env:"ATRIUM_OBJECT_STORE" default:"jetstream" help:"Documents: jetstream or minio."`
	MinIOEndpoint string `env:"ATRIUM_MINIO_ENDPOINT" name:"minio-endpoint" help:"MinIO or S3 host:port."`
	MinIOAccess   string `env:"ATRIUM_MINIO_ACCESS_KEY" name:"minio-access-key" help:"MinIO access key."`
	MinIOSecret   string `env:"ATRIUM_MINIO_SECRET_KEY" name:"minio-secret-key" help:"MinIO secret key."`
	MinIOSecure   bool   `env:"ATRIUM_MINIO_SECURE" name:"minio-secure" help:"Use TLS to MinIO."`
	MinIOBucket   string `env:"ATRIUM_MINIO_BUCKET" name:"minio-bucket" help:"One shared bucket with a prefix per tenant; empty: a bucket per tenant."`
	// SecretKey seals the tenants' secrets at rest.
	SecretKey string `env:"ATRIUM_SECRET_KEY" help:"Keyring sealing the tenants' secrets (ERP connections, read database logins): kid:<base64 of 32 bytes>, newest first, comma-separated (empty: <data dir>/secret.key, created on first start)."`
}

// validate returns every configuration problem, joined, or nil. (Not
// Validate: the CLI library would call that itself and print its usage.)
func (c *config) validate() error {
	errs := []error{c.storeConfig.validate()}
	if c.HTTPAddr == "" {
		errs = append(errs, errors.New("ATRIUM_HTTP_ADDR is empty"))
	}
	if c.BaseDomain == "" || strings.ContainsAny(c.BaseDomain, "/: ") {
		errs = append(errs, fmt.Errorf("ATRIUM_BASE_DOMAIN %q is not a domain name", c.BaseDomain))
	}
	if d, err := time.ParseDuration(c.ERPAckWait); err != nil || d < 3*time.Second || d > time.Hour {
		errs = append(errs, fmt.Errorf("ATRIUM_ERP_ACK_WAIT %q: want a duration from 3s to 1h", c.ERPAckWait))
	}
	if d, err := time.ParseDuration(c.ReadAfterMax); err != nil || d <= 0 {
		errs = append(errs, fmt.Errorf("ATRIUM_READ_AFTER_MAX %q is not a positive duration", c.ReadAfterMax))
	}
	if (c.AdminEmail == "") != (c.AdminPass == "") {
		errs = append(errs, errors.New("ATRIUM_BOOTSTRAP_ADMIN_EMAIL and ATRIUM_BOOTSTRAP_ADMIN_PASSWORD go together"))
	}
	if c.AdminPass != "" && (len(c.AdminPass) < 10 || len(c.AdminPass) > 256) {
		errs = append(errs, errors.New("ATRIUM_BOOTSTRAP_ADMIN_PASSWORD must be 10 to 256 bytes long"))
	}
	if c.NATSURL != "" && c.NATSListen != "" {
		errs = append(errs, errors.New("ATRIUM_NATS_LISTEN applies to the embedded server only; unset it or ATRIUM_NATS_URL"))
	}
	return errors.Join(errs...)
}

// validate returns every problem of the stores' configuration, joined, or
// nil.
func (c *storeConfig) validate() error {
	var errs []error
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errs = append(errs, fmt.Errorf("ATRIUM_LOG_FORMAT %q: want json or text", c.LogFormat))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("ATRIUM_DATA_DIR is empty"))
	}
	switch c.EventStore {
	case "jetstream":
	case "kurrentdb":
		if c.KurrentDBURL == "" {
			errs = append(errs, errors.New("ATRIUM_EVENT_STORE=kurrentdb needs ATRIUM_KURRENTDB_URL"))
		}
	default:
		errs = append(errs, fmt.Errorf("ATRIUM_EVENT_STORE %q: want jetstream or kurrentdb", c.EventStore))
	}
	switch c.ReadStore {
	case "sqlite":
	case "postgres":
		if c.PostgresURL == "" {
			errs = append(errs, errors.New("ATRIUM_READ_STORE=postgres needs ATRIUM_POSTGRES_URL"))
		}
	case "sqlserver":
		if c.SQLServerURL == "" {
			errs = append(errs, errors.New("ATRIUM_READ_STORE=sqlserver needs ATRIUM_SQLSERVER_URL"))
		}
	default:
		errs = append(errs, fmt.Errorf("ATRIUM_READ_STORE %q: want sqlite, postgres or sqlserver", c.ReadStore))
	}
	if c.ReadMaxConns < 2 || c.ReadMaxConns > 10000 {
		errs = append(errs, fmt.Errorf("ATRIUM_READ_MAX_CONNS %d: want 2 to 10000", c.ReadMaxConns))
	}
	if _, _, err := c.syncPolicy(); err != nil {
		errs = append(errs, err)
	}
	switch c.ObjectStore {
	case "jetstream":
	case "minio":
		if c.MinIOEndpoint == "" || c.MinIOAccess == "" || c.MinIOSecret == "" {
			errs = append(errs, errors.New("ATRIUM_OBJECT_STORE=minio needs ATRIUM_MINIO_ENDPOINT, ATRIUM_MINIO_ACCESS_KEY and ATRIUM_MINIO_SECRET_KEY"))
		}
	default:
		errs = append(errs, fmt.Errorf("ATRIUM_OBJECT_STORE %q: want jetstream or minio", c.ObjectStore))
	}
	switch {
	case c.NATSReplicas != 1 && c.NATSReplicas != 3 && c.NATSReplicas != 5:
		errs = append(errs, fmt.Errorf("ATRIUM_NATS_REPLICAS %d: want 1, 3 or 5", c.NATSReplicas))
	case c.NATSReplicas > 1 && c.NATSURL == "":
		errs = append(errs, fmt.Errorf("ATRIUM_NATS_REPLICAS %d needs a NATS cluster in ATRIUM_NATS_URL; the embedded server keeps 1", c.NATSReplicas))
	}
	return errors.Join(errs...)
}

// syncPolicy returns whether every append is fsynced, or the sync interval.
func (c *storeConfig) syncPolicy() (always bool, interval time.Duration, err error) {
	switch c.NATSSync {
	case "", "default":
		return false, 0, nil
	case "always":
		return true, 0, nil
	}
	d, err := time.ParseDuration(c.NATSSync)
	if err != nil || d <= 0 {
		return false, 0, fmt.Errorf("ATRIUM_NATS_SYNC %q: want default, always or a positive duration", c.NATSSync)
	}
	return false, d, nil
}

// readServerURL is the URL of the configured read store's server.
func (c *storeConfig) readServerURL() string {
	if c.ReadStore == "sqlserver" {
		return c.SQLServerURL
	}
	return c.PostgresURL
}

func (c *config) erpAckWait() time.Duration {
	d, _ := time.ParseDuration(c.ERPAckWait)
	return d
}

func (c *config) readAfterMax() time.Duration {
	d, _ := time.ParseDuration(c.ReadAfterMax)
	return d
}

func (c *storeConfig) logger() *slog.Logger {
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, nil))
}

// oneLine flattens a joined error to one line for the exit message.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// documents returns the configured document store; nil means the default.
// process is the assembly's configuration this process configuration
// says, for serve (and, with NoProjections, for maintenance commands).
func (c *config) process(log *slog.Logger) assembly.Config {
	cfg := c.storeConfig.process(log)
	cfg.NATSListen = c.NATSListen
	cfg.BaseDomain = c.BaseDomain
	cfg.ConsoleHosts = c.ConsoleHosts
	cfg.HTTP = atriumhttp.Config{ReadAfterMax: c.readAfterMax(), TrustedProxies: c.TrustedProxies, MetricsToken: c.MetricsToken}
	cfg.ERP = assembly.ERPConfig{AllowPrivateTargets: c.ERPAllowPrivate, AckWait: c.erpAckWait()}
	cfg.Usage = assembly.UsageConfig{BillingURL: c.BillingURL, BillingSecret: c.BillingSecret}
	cfg.SSOAllowPrivateIssuers = c.SSOAllowPrivate
	return cfg
}

// process is the assembly's configuration of the stores, for maintenance
// commands (which set NoProjections).
func (c *storeConfig) process(log *slog.Logger) assembly.Config {
	always, interval, _ := c.syncPolicy()
	return assembly.Config{
		DataDir: c.DataDir, EventStore: c.EventStore, KurrentDBURL: c.KurrentDBURL, KurrentDBNamespace: c.KurrentDBNS, ReadStore: c.ReadStore, ObjectStore: c.ObjectStore,
		ReadServerURL: c.readServerURL(), ReadMaxConns: c.ReadMaxConns, ReadPrefix: c.ReadDBPrefix,
		MinIO: minio.Config{Endpoint: c.MinIOEndpoint, AccessKey: c.MinIOAccess, SecretKey: c.MinIOSecret,
			Secure: c.MinIOSecure, Bucket: c.MinIOBucket},
		NATSURL: c.NATSURL, NATSReplicas: c.NATSReplicas, SyncAlways: always, SyncInterval: interval,
		Logger: log, Modules: modules.All(), SecretKey: c.SecretKey,
	}
}
