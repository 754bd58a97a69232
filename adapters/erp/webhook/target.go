package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"
)

// ErrTargetForbidden is returned for a webhook target that is not an
// http(s) URL resolving to public addresses: a loopback, private,
// link-local (cloud metadata included), unspecified, multicast, shared
// (CGNAT) or reserved address, or such an address in an IPv4-mapped,
// NAT64 or 6to4 form. Private targets are allowed only when the operator
// allows them (an on-premises ERP).
var ErrTargetForbidden = errors.New("webhook: target forbidden")

// ErrInvalidURL is returned for a webhook URL that is not an http or
// https URL with a host.
var ErrInvalidURL = errors.New("webhook: invalid url")

// forbiddenError is a target refused for one of its addresses.
type forbiddenError struct {
	host string // as written in the URL; empty when dialling
	addr netip.Addr
	kind string
}

func (e *forbiddenError) Error() string {
	if e.host == "" || e.host == e.addr.String() {
		return fmt.Sprintf("%s: %s is a %s address", ErrTargetForbidden, e.addr, e.kind)
	}
	return fmt.Sprintf("%s: %s resolves to %s, a %s address", ErrTargetForbidden, e.host, e.addr, e.kind)
}

func (e *forbiddenError) Unwrap() error { return ErrTargetForbidden }

// CheckTarget refuses, before any delivery, a webhook URL that is not
// http or https with a host (ErrInvalidURL), or whose host does not
// resolve, or resolves to any address a delivery may not reach unless
// allowPrivate (ErrTargetForbidden). Every error it returns matches
// ErrTargetForbidden; a malformed URL matches ErrInvalidURL as well. The
// error never quotes the URL's path, query or credentials.
//
// This is the early, friendly answer: deliveries check every address
// again when they dial, so a name that later resolves elsewhere (DNS
// rebinding) is refused all the same.
func CheckTarget(ctx context.Context, rawURL string, allowPrivate bool) error {
	u, err := parseTarget(rawURL)
	if err != nil {
		return malformedError{err}
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return fmt.Errorf("%w: %s does not resolve", ErrTargetForbidden, host)
		}
		if len(addrs) == 0 {
			return fmt.Errorf("%w: %s resolves to no address", ErrTargetForbidden, host)
		}
	}
	if allowPrivate {
		return nil
	}
	for _, a := range addrs {
		if kind := forbiddenKind(a); kind != "" {
			return &forbiddenError{host: host, addr: a.Unmap().WithZone(""), kind: kind}
		}
	}
	return nil
}

// malformedError is a target refused before resolution: its URL is not
// one. It matches both ErrInvalidURL and ErrTargetForbidden.
type malformedError struct{ err error }

func (e malformedError) Error() string   { return e.err.Error() }
func (e malformedError) Unwrap() []error { return []error{e.err, ErrTargetForbidden} }

// parseTarget parses a webhook URL: http or https, with a host. Its
// errors match ErrInvalidURL and never quote the URL.
func parseTarget(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: it does not parse", ErrInvalidURL)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: scheme %q, want http or https", ErrInvalidURL, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	return u, nil
}

// dialGuard is a net.Dialer's Control: it runs on every address a
// delivery dials, after resolution and before connecting, and refuses the
// forbidden ones unless allowPrivate.
func dialGuard(allowPrivate bool) func(network, address string, _ syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		if allowPrivate {
			return nil
		}
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return fmt.Errorf("%w: cannot tell the address of %q", ErrTargetForbidden, address)
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("%w: cannot tell the address of %q", ErrTargetForbidden, address)
		}
		if kind := forbiddenKind(a); kind != "" {
			return &forbiddenError{addr: a.Unmap().WithZone(""), kind: kind}
		}
		return nil
	}
}

// blocked lists the ranges no delivery may reach unless private targets
// are allowed, each with what it is. It is read, never written.
var blocked = []struct {
	prefix netip.Prefix
	kind   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (CGNAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::/96"), "reserved"}, // IPv4-compatible
	{netip.MustParsePrefix("64:ff9b:1::/48"), "reserved"},
	{netip.MustParsePrefix("100::/64"), "reserved"},
	{netip.MustParsePrefix("fc00::/7"), "private"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

// forbiddenKind says what a is when a delivery may not reach it ("" when
// it may): an IPv4-mapped address is judged as its IPv4 address, and a
// NAT64 or 6to4 address as the IPv4 address it carries.
func forbiddenKind(a netip.Addr) string {
	a = a.WithZone("").Unmap()
	if !a.IsValid() {
		return "invalid"
	}
	for _, b := range blocked {
		if b.prefix.Contains(a) {
			return b.kind
		}
	}
	switch {
	case nat64.Contains(a):
		b := a.As16()
		return forbiddenKind(netip.AddrFrom4([4]byte(b[12:16])))
	case sixTo4.Contains(a):
		b := a.As16()
		return forbiddenKind(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return ""
}
