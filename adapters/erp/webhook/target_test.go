package webhook

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestDeliverRefusesPrivateTargetsWhenDialling(t *testing.T) {
	t.Parallel()
	v4 := newReceiver(t, nil)
	v6 := newReceiverOn(t, "[::1]:0", nil)
	_, v4port, _ := net.SplitHostPort(v4.srv.Listener.Addr().String())

	for _, tc := range []struct {
		name, url string
		live      *receiver // the receiver behind url, when there is one
	}{
		{"127.0.0.1", v4.srv.URL + "/hook", v4},
		{"::1", v6.srv.URL + "/hook", v6},
		{"localhost", "http://localhost:" + v4port + "/hook", v4},
		{"10.x", "http://10.20.30.40:8080/hook", nil},
		{"192.168.x", "http://192.168.1.10/hook", nil},
		{"cloud metadata", "http://169.254.169.254/latest/meta-data/", nil},
		{"IPv4-mapped loopback", "http://[::ffff:127.0.0.1]:" + v4port + "/hook", v4},
		{"CGNAT", "http://100.64.0.1/hook", nil},
		{"unique local", "http://[fd00::1]/hook", nil},
		{"unspecified", "http://0.0.0.0:" + v4port + "/hook", v4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConnector(t, tc.url, func(cfg *Config) {
				cfg.AllowPrivate = false
				cfg.Timeout = 2 * time.Second
			})
			o := deliver(t, c, testMessage("msg-private"))
			checkOutcome(t, o, "refused")
			if !errors.Is(o.Err, ErrTargetForbidden) {
				t.Errorf("error %v does not match ErrTargetForbidden", o.Err)
			}
		})
	}
	// Nothing reached the receivers; with AllowPrivate the same deliveries
	// to them arrive.
	if n := len(v4.requests()) + len(v6.requests()); n != 0 {
		t.Fatalf("%d requests reached a private receiver", n)
	}
	for _, u := range []string{v4.srv.URL, v6.srv.URL, "http://localhost:" + v4port} {
		c := newConnector(t, u+"/hook", func(cfg *Config) { cfg.AllowPrivate = true })
		checkOutcome(t, deliver(t, c, testMessage("msg-private")), "delivered")
	}
	if n := len(v4.requests()) + len(v6.requests()); n != 3 {
		t.Fatalf("%d requests with AllowPrivate, want 3", n)
	}
}

func TestSameDeliveryRefusedWithoutAllowPrivate(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	m := testMessage("msg-same")

	denied := newConnector(t, rc.srv.URL, func(cfg *Config) { cfg.AllowPrivate = false })
	o := deliver(t, denied, m)
	checkOutcome(t, o, "refused")
	if !errors.Is(o.Err, ErrTargetForbidden) || !strings.Contains(o.Err.Error(), "127.0.0.1 is a loopback address") {
		t.Errorf("error %v, want ErrTargetForbidden naming the loopback address", o.Err)
	}
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("%d requests reached the receiver", n)
	}

	allowed := newConnector(t, rc.srv.URL, func(cfg *Config) { cfg.AllowPrivate = true })
	checkOutcome(t, deliver(t, allowed, m), "delivered")
}

func TestCheckTarget(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		url       string
		forbidden bool // without allowPrivate
	}{
		{"https://93.184.215.14/hook", false},
		{"http://8.8.8.8:8080/erp?x=1", false},
		{"https://[2606:4700:4700::1111]/hook", false},
		{"http://127.0.0.1/hook", true},
		{"http://127.9.9.9:8080/hook", true},
		{"http://[::1]:8080/hook", true},
		{"http://localhost:8080/hook", true},
		{"http://LOCALHOST/hook", true},
		{"http://10.0.0.1/hook", true},
		{"http://172.16.5.4/hook", true},
		{"http://192.168.0.1/hook", true},
		{"http://169.254.169.254/latest/meta-data/", true},
		{"http://[fe80::1]/hook", true},
		{"http://[fd12:3456::1]/hook", true},
		{"http://100.64.0.1/hook", true},
		{"http://100.127.255.254/hook", true},
		{"http://0.0.0.0/hook", true},
		{"http://[::]/hook", true},
		{"http://224.0.0.1/hook", true},
		{"http://[ff02::1]/hook", true},
		{"http://[::ffff:127.0.0.1]/hook", true},
		{"http://[::ffff:10.0.0.1]/hook", true},
		{"http://[::ffff:169.254.169.254]/hook", true},
		{"http://[64:ff9b::a9fe:a9fe]/hook", true}, // NAT64 of 169.254.169.254
		{"http://[2002:7f00:1::1]/hook", true},     // 6to4 of 127.0.0.1
	} {
		err := CheckTarget(ctx, tc.url, false)
		if tc.forbidden != errors.Is(err, ErrTargetForbidden) {
			t.Errorf("CheckTarget(%s, false) = %v, want forbidden %v", tc.url, err, tc.forbidden)
		}
		if err := CheckTarget(ctx, tc.url, true); err != nil {
			t.Errorf("CheckTarget(%s, true) = %v, want nil", tc.url, err)
		}
	}
}

func TestCheckTargetRefusesMalformedURLs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, u := range []string{"", "erp.example.com/hook", "ftp://erp.example.com/", "file:///etc/passwd",
		"gopher://erp.example.com", "http:///hook", "http://", "https://:443/hook", "http://[::1/hook", "javascript:alert(1)"} {
		for _, allow := range []bool{false, true} {
			err := CheckTarget(ctx, u, allow)
			if !errors.Is(err, ErrTargetForbidden) || !errors.Is(err, ErrInvalidURL) {
				t.Errorf("CheckTarget(%q, %v) = %v, want ErrTargetForbidden and ErrInvalidURL", u, allow, err)
			}
		}
	}
}

func TestCheckTargetRefusesAnUnresolvableHost(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := CheckTarget(ctx, "https://erp.invalid/hook", false)
	if !errors.Is(err, ErrTargetForbidden) || errors.Is(err, ErrInvalidURL) {
		t.Errorf("CheckTarget = %v, want ErrTargetForbidden only", err)
	}
}

func TestCheckTargetKeepsCredentialsOutOfErrors(t *testing.T) {
	t.Parallel()
	err := CheckTarget(context.Background(), "http://erp:hunter2-password@127.0.0.1/hook?token=tok-123456", false)
	if !errors.Is(err, ErrTargetForbidden) {
		t.Fatalf("CheckTarget = %v, want ErrTargetForbidden", err)
	}
	for _, s := range []string{"hunter2-password", "tok-123456", "/hook"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q quotes %s", err, s)
		}
	}
}

func TestForbiddenKind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ addr, kind string }{
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"10.1.2.3", "private"},
		{"172.31.255.255", "private"},
		{"192.168.100.1", "private"},
		{"fc00::1", "private"},
		{"fdff:ffff::1", "private"},
		{"::ffff:192.168.1.1", "private"},
		{"169.254.169.254", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"febf::1", "link-local"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"224.0.0.251", "multicast"},
		{"ff02::fb", "multicast"},
		{"100.64.0.0", "shared (CGNAT)"},
		{"100.127.255.255", "shared (CGNAT)"},
		{"255.255.255.255", "reserved"},
		{"::7f00:1", "reserved"},
		{"64:ff9b::a9fe:a9fe", "link-local"},
		{"64:ff9b::808:808", ""},
		{"2002:a00:1::1", "private"},
		{"2002:808:808::1", ""},
		{"172.32.0.1", ""},
		{"100.128.0.1", ""},
		{"169.255.0.1", ""},
		{"8.8.8.8", ""},
		{"2606:4700:4700::1111", ""},
	} {
		a, err := netip.ParseAddr(tc.addr)
		if err != nil {
			t.Fatalf("%s: %v", tc.addr, err)
		}
		if got := forbiddenKind(a); got != tc.kind {
			t.Errorf("forbiddenKind(%s) = %q, want %q", tc.addr, got, tc.kind)
		}
	}
}
