package httpapi

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientIP is the client's full address: the peer's, or the one a trusted
// proxy reports in X-Forwarded-For (the right-most hop that is not itself
// trusted). It is what session records and the audit log keep; the rate
// limits group addresses further (an IPv6 client by its /64, see
// ratelimit.ClientKey). A peer that is not an IP address is returned as is.
func (s *Server) clientIP(r *http.Request) string {
	addr, ok := hostAddr(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if !s.trusted(addr) {
		return addr.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := hostAddr(hops[i])
		if !ok {
			break
		}
		addr = a
		if !s.trusted(addr) {
			break
		}
	}
	return addr.String()
}

// hostAddr reads a peer address or an X-Forwarded-For entry: an address,
// bare or in brackets, optionally with a port ("192.0.2.1:443",
// "[2001:db8::1]:443"), as proxies write them. A zone is dropped (it names
// an interface of the host that saw the address and means nothing here),
// and an IPv4-mapped IPv6 address is read as the IPv4 address it is.
func hostAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		if ap, perr := netip.ParseAddrPort(s); perr == nil {
			a, err = ap.Addr(), nil
		} else if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
			a, err = netip.ParseAddr(s[1 : len(s)-1])
		}
	}
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.opt.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
