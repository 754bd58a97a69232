package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// tenantCmd manages tenants through the admin API, as kubectl does through
// its API server: the server needs no restart and no shared disk.
type tenantCmd struct {
	API      string `env:"ATRIUM_API_URL" default:"http://localhost:8080" help:"Atrium's base URL."`
	Token    string `env:"ATRIUM_TOKEN" help:"A platform administrator's access token."`
	Email    string `env:"ATRIUM_ADMIN_EMAIL" help:"Log in with this platform administrator instead of a token."`
	Password string `env:"ATRIUM_ADMIN_PASSWORD" help:"Their password."`

	Create  tenantCreateCmd  `cmd:"" help:"Create, provision and open a tenant."`
	List    tenantListCmd    `cmd:"" help:"List the tenants."`
	Suspend tenantSuspendCmd `cmd:"" help:"Stop serving a tenant."`
	Resume  tenantResumeCmd  `cmd:"" help:"Serve a suspended tenant again."`
	Rebuild tenantRebuildCmd `cmd:"" help:"Rebuild one read model of a tenant from its events."`
}

type tenantRebuildCmd struct {
	Slug      string `arg:""`
	ReadModel string `arg:"" help:"The read model, by its projector's name (invoicelist, aging, commissionlist, memberlist, erpsync, ...; docs/read-models.md lists them). Rebuilding erpsync sends the tenant's ERP messages again."`
}

func (c *tenantRebuildCmd) Run(t *tenantCmd) error {
	return t.call(http.MethodPost, "/admin/v1/tenants/"+c.Slug+"/projections/"+c.ReadModel+"/rebuild", nil)
}

type tenantCreateCmd struct {
	Slug          string   `arg:"" help:"The tenant's slug: ^[a-z][a-z0-9]{1,30}$."`
	Name          string   `required:"" help:"The company's name."`
	Domain        []string `help:"A custom domain (repeatable)."`
	Currency      string   `default:"EUR" help:"The tenant's currency."`
	AdminEmail    string   `required:"" help:"The first admin's email."`
	AdminName     string   `required:"" help:"The first admin's name."`
	AdminPassword string   `required:"" env:"ATRIUM_NEW_ADMIN_PASSWORD" help:"The first admin's password."`
}

type tenantListCmd struct{}

type tenantSuspendCmd struct {
	Slug   string `arg:""`
	Reason string `help:"Why."`
}

type tenantResumeCmd struct {
	Slug string `arg:""`
}

func (c *tenantCreateCmd) Run(t *tenantCmd) error {
	body := map[string]any{
		"slug": c.Slug, "name": c.Name, "domains": c.Domain, "settings": map[string]any{"currency": c.Currency},
		"admin": map[string]string{"email": c.AdminEmail, "name": c.AdminName, "password": c.AdminPassword},
	}
	if c.Domain == nil {
		body["domains"] = []string{}
	}
	return t.call(http.MethodPost, "/admin/v1/tenants", body)
}

func (c *tenantListCmd) Run(t *tenantCmd) error {
	return t.call(http.MethodGet, "/admin/v1/tenants", nil)
}

func (c *tenantSuspendCmd) Run(t *tenantCmd) error {
	return t.call(http.MethodPost, "/admin/v1/tenants/"+c.Slug+"/suspend", map[string]string{"reason": c.Reason})
}

func (c *tenantResumeCmd) Run(t *tenantCmd) error {
	return t.call(http.MethodPost, "/admin/v1/tenants/"+c.Slug+"/resume", nil)
}

// call sends one admin request and prints the answer's JSON.
func (t *tenantCmd) call(method, path string, body any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	token := t.Token
	if token == "" {
		if t.Email == "" || t.Password == "" {
			return errors.New("give ATRIUM_TOKEN, or ATRIUM_ADMIN_EMAIL and ATRIUM_ADMIN_PASSWORD")
		}
		var err error
		if token, err = t.login(ctx); err != nil {
			return err
		}
	}
	out, status, err := t.send(ctx, method, path, token, body)
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") == nil {
		out = pretty.Bytes()
	}
	fmt.Fprintln(os.Stdout, string(out))
	if status >= 300 {
		return fmt.Errorf("%s %s: HTTP %d", method, path, status)
	}
	return nil
}

func (t *tenantCmd) login(ctx context.Context) (string, error) {
	out, status, err := t.send(ctx, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": t.Email, "password": t.Password})
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("login: HTTP %d: %s", status, strings.TrimSpace(string(out)))
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(out, &tok); err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	return tok.AccessToken, nil
}

func (t *tenantCmd) send(ctx context.Context, method, path, token string, body any) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(t.API, "/")+path, rd)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return out, resp.StatusCode, err
}
