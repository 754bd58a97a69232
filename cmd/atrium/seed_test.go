package main

import (
	"net"
	"testing"
)

// The demo's banner names the port the server listens on and the base
// domain it serves tenants under, not the defaults.
func TestDemoURLsNameTheListenerAndBaseDomain(t *testing.T) {
	for _, c := range []struct {
		base          string
		addr          net.Addr
		acme, console string
	}{
		{"localhost", &net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}, "http://acme.localhost:8080", "http://localhost:8080/console"},
		{"localhost", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 18080}, "http://acme.localhost:18080", "http://localhost:18080/console"},
		{"atrium.example", &net.TCPAddr{Port: 443}, "http://acme.atrium.example:443", "http://atrium.example:443/console"},
	} {
		got := demoURLs(c.base, c.addr)
		if got.acme != c.acme || got.console != c.console {
			t.Errorf("%s on %s: %+v, want %s and %s", c.base, c.addr, got, c.acme, c.console)
		}
	}
}
