package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/atrium-platform/atrium/adapters/assembly"
	"github.com/atrium-platform/atrium/adapters/erp/sandbox"
	"github.com/atrium-platform/atrium/adapters/secretbox"
)

// erpCmd groups the ERP integration tools.
type erpCmd struct {
	Sandbox erpSandboxCmd `cmd:"" help:"Start a local webhook receiver that verifies each message's signature and prints what arrives."`
}

// erpSandboxCmd is `atrium erp sandbox`: what someone wiring an ERP runs to
// watch messages arrive, signed as Standard Webhooks say.
type erpSandboxCmd struct {
	Addr   string `default:"127.0.0.1:9900" help:"Address to listen on."`
	Secret string `env:"ATRIUM_ERP_SANDBOX_SECRET" required:"" help:"The connection's signing secret, whsec_ followed by base64 (the secret given to PUT /api/v1/erp/connection)."`
	Bodies bool   `help:"Print each message's JSON body under its line."`
}

func (c *erpSandboxCmd) Run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return sandbox.Run(ctx, c.Addr, []byte(c.Secret), os.Stdout, sandbox.ShowBodies(c.Bodies))
}

// secretsCmd groups the key's maintenance.
type secretsCmd struct {
	Reseal secretsResealCmd `cmd:"" help:"Seal every stored secret (ERP connections, read database logins) again with the first key of ATRIUM_SECRET_KEY (step 3 of a key rotation)."`
	NewKey newKeyCmd        `cmd:"" name:"new-key" help:"Print a new keyring entry (kid:<base64 of 32 bytes>) to put first in ATRIUM_SECRET_KEY."`
}

type secretsResealCmd struct{ storeConfig }

func (c *secretsResealCmd) Run() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("bad configuration: %s", oneLine(err))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := c.process(c.logger())
	cfg.NoProjections = true
	p, err := assembly.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	n, err := p.Reseal(ctx)
	if err != nil {
		return fmt.Errorf("reseal: %d sealed again before: %w", n, err)
	}
	fmt.Printf("%d secrets sealed again with the first key\n", n)
	return nil
}

type newKeyCmd struct{}

func (newKeyCmd) Run() error {
	k, err := secretbox.NewKeyEntry()
	if err != nil {
		return err
	}
	fmt.Println(k)
	return nil
}
