// Command atrium runs the Atrium backend: `atrium serve` starts the HTTP API,
// the projectors and (by default) an embedded NATS JetStream server;
// `atrium bench` measures throughput against raw baselines.
package main

import (
	"fmt"
	"os"

	"github.com/alecthomas/kong"
)

type cli struct {
	Serve   serveCmd   `cmd:"" help:"Start the HTTP API and the projectors."`
	Migrate migrateCmd `cmd:"" help:"Migrate every tenant's read database to the latest version, in parallel."`
	Tenant  tenantCmd  `cmd:"" help:"Manage tenants through the admin API (create, list, suspend, resume)."`
	Bench   benchCmd   `cmd:"" help:"Measure append and projection throughput as ratios to raw baselines."`
	ERP     erpCmd     `cmd:"" name:"erp" help:"ERP integration tools (a local receiver to watch messages arrive)."`
	Secrets secretsCmd `cmd:"" help:"Manage the key that seals the tenants' secrets (ERP connections, read database logins)."`
	Audit   auditCmd   `cmd:"" help:"Export a tenant's log with its hash chain, and verify an export offline."`
	Probe   probeCmd   `cmd:"" help:"Ask a running Atrium whether it is ready (exit 0) or not (exit 1): a container health check."`
}

func main() {
	var c cli
	parser := kong.Must(&c,
		kong.Name("atrium"),
		kong.Description("Atrium: one deployment, many isolated tenants, every change an event."),
	)
	args := os.Args[1:]
	if len(args) == 0 {
		args = []string{"--help"} // and exit 0: asking what there is is no error
	}
	ctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "atrium: %v (atrium --help lists what there is)\n", err)
		os.Exit(2)
	}
	if err := ctx.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "atrium:", err)
		os.Exit(1)
	}
}
