package httpapi

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestClientIP: the peer, or behind trusted proxies the right-most
// untrusted X-Forwarded-For hop, with ports, brackets and zones read.
func TestClientIP(t *testing.T) {
	s := &Server{opt: Options{TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8"),
	}}}
	tests := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"untrusted peer, header ignored", "192.0.2.1:1234", []string{"198.51.100.7"}, "192.0.2.1"},
		{"untrusted IPv6 peer with zone", "[fe80::1%eth0]:1234", nil, "fe80::1"},
		{"IPv4-mapped peer", "[::ffff:192.0.2.1]:1234", nil, "192.0.2.1"},
		{"trusted peer, bare hop", "10.0.0.1:1234", []string{"198.51.100.7"}, "198.51.100.7"},
		{"IPv4 hop with port", "10.0.0.1:1234", []string{"198.51.100.7:5678"}, "198.51.100.7"},
		{"IPv6 hop with port", "10.0.0.1:1234", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"IPv6 hop in brackets", "10.0.0.1:1234", []string{"[2001:db8::1]"}, "2001:db8::1"},
		{"bare IPv6 hop", "10.0.0.1:1234", []string{"2001:db8::1"}, "2001:db8::1"},
		{"IPv6 hop with zone", "10.0.0.1:1234", []string{"fe80::1%25eth0", "fe80::1%eth0"}, "fe80::1"},
		{"IPv6 hop with zone and port", "10.0.0.1:1234", []string{"[fe80::1%eth0]:443"}, "fe80::1"},
		{"IPv4-mapped hop", "10.0.0.1:1234", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"spaces", "10.0.0.1:1234", []string{" 203.0.113.1 ,  198.51.100.7:80 "}, "198.51.100.7"},
		{"trusted hops skipped", "10.0.0.1:1234", []string{"198.51.100.7, [fd00::2]:443, 10.0.0.3:80"}, "198.51.100.7"},
		{"hops across headers", "10.0.0.1:1234", []string{"203.0.113.1", "198.51.100.7:80, 10.0.0.2"}, "198.51.100.7"},
		{"right-most untrusted wins", "10.0.0.1:1234", []string{"203.0.113.1, 198.51.100.7"}, "198.51.100.7"},
		{"garbage stops at last good hop", "10.0.0.1:1234", []string{"198.51.100.7, unknown, 10.0.0.2"}, "10.0.0.2"},
		{"bad port is garbage", "10.0.0.1:1234", []string{"198.51.100.7:99999"}, "10.0.0.1"},
		{"empty header", "10.0.0.1:1234", []string{""}, "10.0.0.1"},
		{"no header", "10.0.0.1:1234", nil, "10.0.0.1"},
		{"not an IP peer", "@", []string{"198.51.100.7"}, "@"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.peer
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := s.clientIP(r); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}
