package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/atrium-platform/atrium/domain/usage"
)

// tenantCmd manages tenants through the admin API, as kubectl does through
// its API server: the server needs no restart and no shared disk. It logs
// in once and keeps the session (see session.go).
type tenantCmd struct {
	API      string `env:"ATRIUM_API_URL" default:"http://localhost:8080" help:"Atrium's base URL."`
	Token    string `env:"ATRIUM_TOKEN" help:"A platform administrator's access token, instead of logging in."`
	Email    string `env:"ATRIUM_ADMIN_EMAIL" help:"The platform administrator to log in as; the session is kept for the next calls."`
	Password string `env:"ATRIUM_ADMIN_PASSWORD" help:"Their password, used when no kept session is left."`
	Output   string `short:"o" enum:"table,json" default:"table" help:"How answers are printed: table or json."`
	Sessions string `env:"ATRIUM_SESSION_FILE" help:"The file kept sessions live in (default: atrium/sessions.json in the user's configuration directory)."`

	// held is the access token this run found or got, until held expires:
	// a command calling the API many times (rebuild --wait) reads the
	// session file once.
	held      string
	heldUntil time.Time

	Create     tenantCreateCmd     `cmd:"" help:"Create, provision and open a tenant."`
	List       tenantListCmd       `cmd:"" help:"List the tenants."`
	Suspend    tenantSuspendCmd    `cmd:"" help:"Stop serving a tenant."`
	Resume     tenantResumeCmd     `cmd:"" help:"Serve a suspended tenant again."`
	Rebuild    tenantRebuildCmd    `cmd:"" help:"Rebuild one read model of a tenant from its events."`
	Health     tenantHealthCmd     `cmd:"" help:"Every tenant's state, projection lag and poisoned events, as the instance at ATRIUM_API_URL knows them."`
	Plan       tenantPlanCmd       `cmd:"" help:"Put a tenant on a plan (none when no plan is named)."`
	Plans      tenantPlansCmd      `cmd:"" help:"List the plans."`
	DefinePlan tenantDefinePlanCmd `cmd:"" name:"define-plan" help:"Define a plan, or change its limits: every tenant on it has them at once. A limit left 0 is none."`
	Usage      tenantUsageCmd      `cmd:"" help:"A tenant's usage, day by day (UTC): this month's unless --from and --to say."`
	Offboard   tenantOffboardCmd   `cmd:"" help:"Make a tenant read-only, the first step of its leaving: its reads answer, its commands are refused."`
	Archive    tenantArchiveCmd    `cmd:"" help:"Write a read-only tenant's archive (its log with the hash chain, read tables, documents) to a zip file."`
	Delete     tenantDeleteCmd     `cmd:"" help:"Delete a read-only tenant's data for good (--confirm <slug>), once its archive was taken and nothing was written since; its slug stays taken."`
	Logout     tenantLogoutCmd     `cmd:"" help:"End the kept session of ATRIUM_ADMIN_EMAIL on ATRIUM_API_URL."`
}

type tenantRebuildCmd struct {
	Wait      bool          `help:"Wait until the read model has projected the tenant's log as it stood, showing the progress on stderr."`
	Timeout   time.Duration `default:"30m" help:"With --wait: how long to wait at most."`
	Slug      string        `arg:""`
	ReadModel string        `arg:"" help:"The read model, by its projector's name (invoicelist, aging, commissionlist, memberlist, erpsync, ...; docs/read-models.md lists them). Rebuilding erpsync sends the tenant's ERP messages again."`
}

func (c *tenantRebuildCmd) Run(t *tenantCmd) error {
	var head uint64
	if c.Wait {
		// The log as it stands before the rebuild: what the read model
		// must reach again.
		p, err := t.progress(c.Slug)
		if err != nil {
			return err
		}
		head = p.Head
	}
	out, err := t.call(http.MethodPost, "/admin/v1/tenants/"+url.PathEscape(c.Slug)+"/projections/"+url.PathEscape(c.ReadModel)+"/rebuild", nil)
	if err != nil {
		return err
	}
	var r struct {
		Tenant    string `json:"tenant"`
		ReadModel string `json:"read_model"`
		Status    string `json:"status"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return fmt.Errorf("an answer not understood: %w", err)
	}
	if c.Wait {
		if err := c.wait(t, head); err != nil {
			return err
		}
		r.Status = "rebuilt"
		if out, err = json.Marshal(r); err != nil {
			return err
		}
	}
	return t.print(out, func(w io.Writer) error {
		fmt.Fprintln(w, "TENANT\tREAD MODEL\tSTATUS")
		fmt.Fprintf(w, "%s\t%s\t%s\n", r.Tenant, r.ReadModel, r.Status)
		return nil
	})
}

// wait follows the read model's progress up to head, with a progress bar
// on stderr.
func (c *tenantRebuildCmd) wait(t *tenantCmd, head uint64) error {
	bar := progressbar.NewOptions64(int64(head),
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(fmt.Sprintf("rebuilding %s of %s", c.ReadModel, c.Slug)),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(os.Stderr) }),
	)
	deadline := time.Now().Add(c.Timeout)
	for {
		p, err := t.progress(c.Slug)
		if err != nil {
			return err
		}
		var at uint64
		found := false
		for _, m := range p.ReadModels {
			if m.Name == c.ReadModel {
				at, found = m.Position, true
			}
		}
		if !found {
			return fmt.Errorf("tenant %s has no read model %q", c.Slug, c.ReadModel)
		}
		_ = bar.Set64(int64(min(at, head)))
		if at >= head {
			return bar.Finish()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s of %s at %d of %d after %s: still rebuilding", c.ReadModel, c.Slug, at, head, c.Timeout)
		}
		time.Sleep(500 * time.Millisecond) // polling the server's progress
	}
}

// progress reads how far a tenant's read models have projected its log.
func (t *tenantCmd) progress(slug string) (projectionProgress, error) {
	out, err := t.call(http.MethodGet, "/admin/v1/tenants/"+url.PathEscape(slug)+"/projections", nil)
	if err != nil {
		return projectionProgress{}, err
	}
	var p projectionProgress
	if err := json.Unmarshal(out, &p); err != nil {
		return p, fmt.Errorf("an answer not understood: %w", err)
	}
	return p, nil
}

// projectionProgress is GET /admin/v1/tenants/{slug}/projections.
type projectionProgress struct {
	Head       uint64 `json:"head"`
	ReadModels []struct {
		Name     string `json:"name"`
		Position uint64 `json:"position"`
	} `json:"read_models"`
}

type tenantHealthCmd struct{}

func (c *tenantHealthCmd) Run(t *tenantCmd) error {
	out, err := t.call(http.MethodGet, "/admin/v1/health", nil)
	if err != nil {
		return err
	}
	return t.print(out, func(w io.Writer) error {
		var l struct {
			Items []struct {
				Tenant     string `json:"tenant"`
				Suspended  bool   `json:"suspended"`
				Projected  string `json:"projected"`
				Subscribed bool   `json:"subscribed"`
				Position   uint64 `json:"position"`
				Lag        uint64 `json:"lag"`
				Poisoned   uint64 `json:"poisoned"`
			} `json:"items"`
		}
		if err := json.Unmarshal(out, &l); err != nil {
			return fmt.Errorf("an answer not understood: %w", err)
		}
		fmt.Fprintln(w, "TENANT\tSTATUS\tPROJECTED\tSUBSCRIBED\tPOSITION\tLAG\tPOISONED")
		for _, h := range l.Items {
			status := "active"
			if h.Suspended {
				status = "suspended"
			}
			if h.Projected != "here" {
				fmt.Fprintf(w, "%s\t%s\t%s\t-\t-\t-\t%d\n", h.Tenant, status, h.Projected, h.Poisoned)
				continue
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%t\t%d\t%d\t%d\n", h.Tenant, status, h.Projected, h.Subscribed, h.Position, h.Lag, h.Poisoned)
		}
		return nil
	})
}

type tenantLogoutCmd struct{}

func (c *tenantLogoutCmd) Run(t *tenantCmd) error {
	if t.Email == "" {
		return errors.New("give ATRIUM_ADMIN_EMAIL: whose kept session to end")
	}
	return t.forget(true)
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

type tenantPlanCmd struct {
	Slug string `arg:""`
	Plan string `arg:"" optional:"" help:"The plan; left out, the tenant is taken off its plan."`
}

type tenantPlansCmd struct{}

type tenantDefinePlanCmd struct {
	Name               string `arg:""`
	Seats              int    `default:"-1" help:"Members the tenant may have, invitations included (0: no limit; left out: unchanged)."`
	CommandsPerMinute  int    `default:"-1" help:"Commands (writes to the API) a minute; past them, 429 quota_exceeded (0: no limit; left out: unchanged)."`
	ConcurrentRequests int    `default:"-1" help:"Requests served at once, unless the tenant has limits of its own (0: no limit; left out: unchanged)."`
	DocumentBytes      int64  `default:"-1" help:"Bytes of documents (receipts) the tenant keeps (0: no limit; left out: unchanged)."`
	ERPMessagesPerDay  int64  `default:"-1" name:"erp-messages-per-day" help:"Messages exchanged with the tenant's ERP a day, UTC (0: no limit; left out: unchanged)."`
}

func (c *tenantPlanCmd) Run(t *tenantCmd) error {
	out, err := t.call(http.MethodPut, "/admin/v1/tenants/"+url.PathEscape(c.Slug)+"/plan", map[string]string{"plan": c.Plan})
	if err != nil {
		return err
	}
	return t.printTenants(out, false)
}

func (c *tenantPlansCmd) Run(t *tenantCmd) error {
	out, err := t.call(http.MethodGet, "/admin/v1/plans", nil)
	if err != nil {
		return err
	}
	return t.printPlans(out, true)
}

func (c *tenantDefinePlanCmd) Run(t *tenantCmd) error {
	// The limits left out keep the plan's: read them first.
	list, err := t.call(http.MethodGet, "/admin/v1/plans", nil)
	if err != nil {
		return err
	}
	plans, err := rowsOf[planRow](list, true)
	if err != nil {
		return err
	}
	var was planRow
	for _, p := range plans {
		if p.Name == c.Name {
			was = p
		}
	}
	pick := func(given, had int64) int64 {
		if given < 0 {
			return had
		}
		return given
	}
	out, err := t.call(http.MethodPut, "/admin/v1/plans/"+url.PathEscape(c.Name), map[string]int64{
		"seats":                pick(int64(c.Seats), int64(was.Limits.Seats)),
		"commands_per_minute":  pick(int64(c.CommandsPerMinute), int64(was.Limits.CommandsPerMinute)),
		"concurrent_requests":  pick(int64(c.ConcurrentRequests), int64(was.Limits.ConcurrentRequests)),
		"document_bytes":       pick(c.DocumentBytes, was.Limits.DocumentBytes),
		"erp_messages_per_day": pick(c.ERPMessagesPerDay, was.Limits.ERPMessagesPerDay),
	})
	if err != nil {
		return err
	}
	return t.printPlans(out, false)
}

type tenantUsageCmd struct {
	Slug string `arg:""`
	From string `help:"The first day, YYYY-MM-DD (default: the first of this month)."`
	To   string `help:"The last day, YYYY-MM-DD (default: today)."`
}

func (c *tenantUsageCmd) Run(t *tenantCmd) error {
	q := url.Values{}
	if c.From != "" {
		q.Set("from", c.From)
	}
	if c.To != "" {
		q.Set("to", c.To)
	}
	path := "/admin/v1/tenants/" + url.PathEscape(c.Slug) + "/usage"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	out, err := t.call(http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	return t.print(out, func(w io.Writer) error {
		var v struct {
			Days []usage.Record `json:"days"`
		}
		if err := json.Unmarshal(out, &v); err != nil {
			return fmt.Errorf("an answer not understood: %w", err)
		}
		fmt.Fprintln(w, "DAY\tCOMMANDS\tEVENTS\tEVENT BYTES\tAPI REQUESTS\tERP MESSAGES\tACTIVE\tMEMBERS\tDOCUMENT BYTES\tREAD DB BYTES\tCLOSED")
		for _, d := range v.Days {
			closed := "-"
			if !d.Closed.IsZero() {
				closed = d.Closed.Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", d.Day, d.Commands, d.Events, d.EventBytes, d.APIRequests,
				d.ERPMessages, d.ActiveMembers, d.Members, d.DocumentBytes, d.ReadDatabaseBytes, closed)
		}
		return nil
	})
}

type tenantOffboardCmd struct {
	Slug string `arg:""`
}

type tenantArchiveCmd struct {
	Slug string `arg:""`
	Out  string `short:"f" required:"" help:"The zip file to write (it must not exist)."`
}

type tenantDeleteCmd struct {
	Slug    string `arg:""`
	Confirm string `required:"" help:"The tenant's slug again: its data is deleted for good."`
}

func (c *tenantOffboardCmd) Run(t *tenantCmd) error {
	return t.offboard(c.Slug, nil)
}

func (c *tenantDeleteCmd) Run(t *tenantCmd) error {
	return t.offboard(c.Slug, map[string]string{"confirm": c.Confirm})
}

// offboard posts to a tenant's offboarding and prints where it stands.
func (t *tenantCmd) offboard(slug string, body any) error {
	out, err := t.call(http.MethodPost, "/admin/v1/tenants/"+url.PathEscape(slug)+"/offboard", body)
	if err != nil {
		return err
	}
	return t.print(out, func(w io.Writer) error {
		var v struct {
			Tenant   string `json:"tenant"`
			ReadOnly bool   `json:"read_only"`
			Deleted  bool   `json:"deleted"`
			Archive  string `json:"archive"`
		}
		if err := json.Unmarshal(out, &v); err != nil {
			return fmt.Errorf("an answer not understood: %w", err)
		}
		fmt.Fprintln(w, "TENANT\tREAD-ONLY\tDELETED\tARCHIVE")
		fmt.Fprintf(w, "%s\t%v\t%v\t%s\n", v.Tenant, v.ReadOnly, v.Deleted, v.Archive)
		return nil
	})
}

// Run downloads the archive to a new file; a failed download leaves none.
func (c *tenantArchiveCmd) Run(t *tenantCmd) (err error) {
	f, err := os.OpenFile(c.Out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(c.Out)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	token, _, err := t.token(ctx)
	if err != nil {
		return err
	}
	path := "/admin/v1/tenants/" + url.PathEscape(c.Slug) + "/archive"
	out, status, err := apiRequest(ctx, http.MethodGet, strings.TrimRight(t.API, "/")+path, token, "", nil, f)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return refusal(http.MethodGet, path, status, out)
	}
	fmt.Fprintln(os.Stderr, "archive of "+c.Slug+" written to "+c.Out)
	return nil
}

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
	out, err := t.call(http.MethodPost, "/admin/v1/tenants", body)
	if err != nil {
		return err
	}
	return t.printTenants(out, false)
}

func (c *tenantListCmd) Run(t *tenantCmd) error {
	out, err := t.call(http.MethodGet, "/admin/v1/tenants", nil)
	if err != nil {
		return err
	}
	return t.printTenants(out, true)
}

func (c *tenantSuspendCmd) Run(t *tenantCmd) error {
	out, err := t.call(http.MethodPost, "/admin/v1/tenants/"+url.PathEscape(c.Slug)+"/suspend", map[string]string{"reason": c.Reason})
	if err != nil {
		return err
	}
	return t.printTenants(out, false)
}

func (c *tenantResumeCmd) Run(t *tenantCmd) error {
	out, err := t.call(http.MethodPost, "/admin/v1/tenants/"+url.PathEscape(c.Slug)+"/resume", nil)
	if err != nil {
		return err
	}
	return t.printTenants(out, false)
}

// apiError is a refusal of the API: its status and problem.
type apiError struct {
	method, path string
	status       int
	code, detail string
}

func (e *apiError) Error() string {
	if e.code == "" {
		return fmt.Sprintf("%s %s: HTTP %d", e.method, e.path, e.status)
	}
	return fmt.Sprintf("%s %s: HTTP %d %s: %s", e.method, e.path, e.status, e.code, e.detail)
}

// call sends one admin request as a platform administrator and returns the
// answer's body; a refusal is an *apiError.
func (t *tenantCmd) call(method, path string, body any) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for attempt := 0; ; attempt++ {
		token, kept, err := t.token(ctx)
		if err != nil {
			return nil, err
		}
		out, status, err := t.send(ctx, method, path, token, body)
		if err != nil {
			return nil, err
		}
		if status == http.StatusUnauthorized && kept && attempt == 0 {
			// The kept session was ended (a logout, a revocation): once more,
			// without it.
			if err := t.forget(false); err != nil {
				return nil, err
			}
			continue
		}
		if status >= 300 {
			return nil, refusal(method, path, status, out)
		}
		return out, nil
	}
}

// refusal is the *apiError of an answer with status and body out.
func refusal(method, path string, status int, out []byte) error {
	var p struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
	_ = json.Unmarshal(out, &p)
	return &apiError{method: method, path: path, status: status, code: p.Code, detail: p.Detail}
}

// token is the access token to send: ATRIUM_TOKEN, the kept session's
// (refreshed when it has expired; kept reports it came from there), or a
// new login's, which is then kept.
func (t *tenantCmd) token(ctx context.Context) (token string, kept bool, err error) {
	if t.Token != "" {
		return t.Token, false, nil
	}
	if t.Email == "" {
		return "", false, errors.New("give ATRIUM_TOKEN, or ATRIUM_ADMIN_EMAIL (and ATRIUM_ADMIN_PASSWORD for the first call)")
	}
	if t.held != "" && time.Until(t.heldUntil) > 30*time.Second {
		return t.held, true, nil
	}
	path := sessionFile(t.Sessions)
	unlock, err := lockSessions(path)
	if err != nil {
		return "", false, err
	}
	defer unlock()
	all, err := loadSessions(path)
	if err != nil {
		return "", false, err
	}
	key := sessionKey(t.API, t.Email)
	if s, ok := all[key]; ok {
		if time.Until(s.Expires) > 30*time.Second {
			t.held, t.heldUntil = s.AccessToken, s.Expires
			return s.AccessToken, true, nil
		}
		if s.RefreshToken != "" {
			if ns, err := t.tokens(ctx, "/api/v1/auth/refresh", map[string]string{"refresh_token": s.RefreshToken}); err == nil {
				all[key] = ns
				t.held, t.heldUntil = ns.AccessToken, ns.Expires
				return ns.AccessToken, true, saveSessions(path, all)
			}
		}
		delete(all, key)
	}
	if t.Password == "" {
		return "", false, fmt.Errorf("no session kept for %s on %s: give ATRIUM_ADMIN_PASSWORD to log in", t.Email, t.API)
	}
	ns, err := t.tokens(ctx, "/api/v1/auth/login", map[string]string{"email": t.Email, "password": t.Password})
	if err != nil {
		return "", false, err
	}
	all[key] = ns
	t.held, t.heldUntil = ns.AccessToken, ns.Expires
	return ns.AccessToken, false, saveSessions(path, all)
}

// tokens logs in or refreshes at path and returns the session.
func (t *tenantCmd) tokens(ctx context.Context, path string, body map[string]string) (savedSession, error) {
	out, status, err := t.send(ctx, http.MethodPost, path, "", body)
	if err != nil {
		return savedSession{}, err
	}
	if status != http.StatusOK {
		return savedSession{}, refusal(http.MethodPost, path, status, out)
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(out, &tok); err != nil || tok.AccessToken == "" {
		return savedSession{}, fmt.Errorf("POST %s: an answer without tokens: %w", path, err)
	}
	return savedSession{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken,
		Expires: time.Now().Add(time.Duration(tok.ExpiresIn) * time.Second)}, nil
}

// forget drops the kept session of t's administrator; with logout, the
// server ends it first.
func (t *tenantCmd) forget(logout bool) error {
	t.held = ""
	path := sessionFile(t.Sessions)
	unlock, err := lockSessions(path)
	if err != nil {
		return err
	}
	defer unlock()
	all, err := loadSessions(path)
	if err != nil {
		return err
	}
	key := sessionKey(t.API, t.Email)
	s, ok := all[key]
	if !ok {
		return nil
	}
	if logout {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if time.Until(s.Expires) < 30*time.Second && s.RefreshToken != "" {
			if ns, err := t.tokens(ctx, "/api/v1/auth/refresh", map[string]string{"refresh_token": s.RefreshToken}); err == nil {
				s = ns
			}
		}
		// Ends the login the access token belongs to, its refresh token
		// with it; a session already ended answers 401.
		out, status, err := t.send(ctx, http.MethodPost, "/api/v1/auth/logout", s.AccessToken, nil)
		if err != nil {
			return err
		}
		if status >= 300 && status != http.StatusUnauthorized {
			return refusal(http.MethodPost, "/api/v1/auth/logout", status, out)
		}
	}
	delete(all, key)
	return saveSessions(path, all)
}

func (t *tenantCmd) send(ctx context.Context, method, path, token string, body any) ([]byte, int, error) {
	return apiRequest(ctx, method, strings.TrimRight(t.API, "/")+path, token, "", body, nil)
}

// apiRequest sends one request to the API: body (when not nil) as JSON,
// the bearer token and the tenant (X-Tenant) when given. A 200 answer is
// copied to to when given (a long download); any other answer, or every
// answer without to, is returned, at most 64 MiB of it.
func apiRequest(ctx context.Context, method, url, token string, tenant string, body any, to io.Writer) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if tenant != "" {
		req.Header.Set("X-Tenant", tenant)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && to != nil {
		_, err := io.Copy(to, resp.Body)
		return nil, resp.StatusCode, err
	}
	out, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return out, resp.StatusCode, err
}

// tenantRow is what the CLI shows of a tenant.
type tenantRow struct {
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	Domains   []string  `json:"domains"`
	Plan      string    `json:"plan"`
	Suspended bool      `json:"suspended"`
	Since     time.Time `json:"since"`
}

type planRow struct {
	Name   string `json:"name"`
	Limits struct {
		Seats              int   `json:"seats"`
		CommandsPerMinute  int   `json:"commands_per_minute"`
		ConcurrentRequests int   `json:"concurrent_requests"`
		DocumentBytes      int64 `json:"document_bytes"`
		ERPMessagesPerDay  int64 `json:"erp_messages_per_day"`
	} `json:"limits"`
}

// rowsOf reads an answer's rows: the items of a list, or the one object.
func rowsOf[T any](out []byte, list bool) ([]T, error) {
	if !list {
		var r T
		if err := json.Unmarshal(out, &r); err != nil {
			return nil, fmt.Errorf("an answer not understood: %w", err)
		}
		return []T{r}, nil
	}
	var l struct {
		Items []T `json:"items"`
	}
	if err := json.Unmarshal(out, &l); err != nil {
		return nil, fmt.Errorf("an answer not understood: %w", err)
	}
	return l.Items, nil
}

// printPlans prints a plan, or the list of them.
func (t *tenantCmd) printPlans(out []byte, list bool) error {
	return t.print(out, func(w io.Writer) error {
		rows, err := rowsOf[planRow](out, list)
		if err != nil {
			return err
		}
		limit := func(n int64) string {
			if n == 0 {
				return "-"
			}
			return strconv.FormatInt(n, 10)
		}
		fmt.Fprintln(w, "PLAN\tSEATS\tCOMMANDS/MIN\tREQUESTS AT ONCE\tDOCUMENT BYTES\tERP MESSAGES/DAY")
		for _, r := range rows {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, limit(int64(r.Limits.Seats)), limit(int64(r.Limits.CommandsPerMinute)),
				limit(int64(r.Limits.ConcurrentRequests)), limit(r.Limits.DocumentBytes), limit(r.Limits.ERPMessagesPerDay))
		}
		return nil
	})
}

// print writes an answer: as JSON, indented, or as a table that rows
// makes of it.
func (t *tenantCmd) print(out []byte, table func(w io.Writer) error) error {
	if t.Output == "json" {
		var pretty bytes.Buffer
		if json.Indent(&pretty, out, "", "  ") == nil {
			out = pretty.Bytes()
		}
		_, err := fmt.Fprintln(os.Stdout, string(out))
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	if err := table(tw); err != nil {
		return err
	}
	return tw.Flush()
}

// printTenants prints the tenants of out: one tenant, or a list's items.
func (t *tenantCmd) printTenants(out []byte, list bool) error {
	return t.print(out, func(w io.Writer) error {
		rows, err := rowsOf[tenantRow](out, list)
		if err != nil {
			return err
		}
		fmt.Fprintln(w, "SLUG\tNAME\tSTATUS\tPLAN\tDOMAINS\tSINCE")
		for _, r := range rows {
			status := "active"
			if r.Suspended {
				status = "suspended"
			}
			domains := strings.Join(r.Domains, ",")
			if domains == "" {
				domains = "-"
			}
			plan := r.Plan
			if plan == "" {
				plan = "-"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Slug, r.Name, status, plan, domains, r.Since.UTC().Format(time.RFC3339))
		}
		return nil
	})
}
