package auth

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atrium-platform/atrium/domain/user"
)

// clock is a settable clock.
type clock struct{ now atomic.Pointer[time.Time] }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}
func (c *clock) set(t time.Time)     { c.now.Store(&t) }
func (c *clock) Now() time.Time      { return *c.now.Load() }
func (c *clock) add(d time.Duration) { c.set(c.Now().Add(d)) }

func TestVerifiedTokensAreRememberedUntilTheyExpire(t *testing.T) {
	clk := newClock(epoch)
	iss := mustIssuer(t, IssuerConfig{Keys: []Key{mustKey(t)}, Now: clk.Now})
	tok := mustIssue(t, iss, Claims{Subject: "u-1", Tenant: "acme", Roles: []user.Role{user.Finance}, SessionID: "s-1"})
	first, err := iss.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if n := iss.verified.len(); n != 1 {
		t.Fatalf("%d tokens remembered, want 1", n)
	}
	first.Roles[0] = user.PlatformAdmin // the caller's own copy
	clk.add(10 * time.Minute)
	again, err := iss.Verify(tok)
	if err != nil || again.Subject != "u-1" || again.Tenant != "acme" || len(again.Roles) != 1 || again.Roles[0] != user.Finance {
		t.Fatalf("remembered token: %+v, %v", again, err)
	}
	// Refused tokens are not remembered.
	for _, bad := range []string{tok + "x", "a.b.c", rewritePayload(t, tok, func(m map[string]any) { m["tenant"] = "globex" })} {
		if _, err := iss.Verify(bad); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("verify %q: %v", bad, err)
		}
	}
	if n := iss.verified.len(); n != 1 {
		t.Fatalf("%d tokens remembered after refusals, want 1", n)
	}
	// Past its expiry (and the leeway), a remembered token is refused.
	clk.add(5*time.Minute + Leeway)
	if _, err := iss.Verify(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired remembered token: %v", err)
	}
	if n := iss.verified.len(); n != 0 {
		t.Fatalf("%d tokens remembered after expiry, want 0", n)
	}
}

func TestVerifiedTokensAreBounded(t *testing.T) {
	clk := newClock(epoch)
	iss := mustIssuer(t, IssuerConfig{Keys: []Key{mustKey(t)}, Now: clk.Now})
	iss.verified.max = 8
	issue := func(n int) []string {
		var toks []string
		for i := range n {
			toks = append(toks, mustIssue(t, iss, Claims{Subject: user.ID(fmt.Sprintf("u-%d", i)), Tenant: "acme", SessionID: "s"}))
		}
		return toks
	}
	for _, tok := range issue(20) {
		if _, err := iss.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := iss.verified.len(); n != 8 {
		t.Fatalf("%d tokens remembered, want the bound, 8", n)
	}
	// Once those expire, new ones take their place.
	clk.add(time.Hour)
	for _, tok := range issue(3) {
		if _, err := iss.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := iss.verified.len(); n != 3 {
		t.Fatalf("%d tokens remembered, want 3", n)
	}
}
