package config

import (
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// WebAuthn is the relying party of passkeys.
type WebAuthn struct {
	// RPID is the relying party id; empty when passkeys are off (the
	// issuer's host is an IP address that is not loopback, and
	// BATON_WEBAUTHN_RP_ID is not set).
	RPID string
	// Origins are the exact origins a ceremony may come from.
	Origins []string
	// RPName is the name authenticators show.
	RPName string
	// Off says why passkeys are off, for the start-up warning.
	Off string
}

// maxRPName bounds BATON_WEBAUTHN_RP_NAME (authenticators may truncate
// it at 64 bytes, WebAuthn §6.4.1).
const maxRPName = 64

// webAuthn reads the passkey settings. An IP address is no valid RP id
// (WebAuthn §5.1.3: browsers refuse one), so a loopback issuer — the
// default — defaults to localhost, and any other IP address turns
// passkeys off until an RP id is set. Default origins that the RP id does
// not cover give way; explicit ones must be covered.
func (p *parser) webAuthn(issuer string, cors []string, notes *[]string) WebAuthn {
	w := WebAuthn{RPName: p.str("BATON_WEBAUTHN_RP_NAME", "baton")}
	if len(w.RPName) > maxRPName || strings.ContainsFunc(w.RPName, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		p.fail("BATON_WEBAUTHN_RP_NAME", "want up to %d bytes on one line", maxRPName)
	}
	iu, err := url.Parse(issuer)
	if err != nil {
		return w // the issuer's own error is reported
	}
	issuerOrigin := strings.ToLower(iu.Scheme + "://" + iu.Host)
	explicitOrigins := p.origins("BATON_WEBAUTHN_ORIGINS")

	var defaults []string
	if v := p.str("BATON_WEBAUTHN_RP_ID", ""); v != "" {
		id := strings.ToLower(strings.TrimSuffix(v, "."))
		if !validRPID(id) {
			p.fail("BATON_WEBAUTHN_RP_ID", "%q is not a domain name such as example.com (an IP address is no valid RP id)", v)
			return w
		}
		w.RPID = id
		defaults = append([]string{issuerOrigin}, cors...)
	} else {
		host := iu.Hostname()
		addr, err := netip.ParseAddr(host)
		switch {
		case err != nil:
			w.RPID = strings.ToLower(host)
			defaults = append([]string{issuerOrigin}, cors...)
		case addr.IsLoopback():
			w.RPID = "localhost"
			local := iu.Scheme + "://localhost"
			if port := iu.Port(); port != "" {
				local = iu.Scheme + "://" + net.JoinHostPort("localhost", port)
			}
			defaults = append([]string{local}, cors...)
		default:
			w.Off = "BATON_ISSUER's host " + host + " is an IP address, which cannot be a WebAuthn RP id: passkeys are off until BATON_WEBAUTHN_RP_ID is set"
			return w
		}
	}
	if explicitOrigins != nil {
		for _, o := range explicitOrigins {
			if !covers(w.RPID, o) {
				p.fail("BATON_WEBAUTHN_ORIGINS", "%s is not %s or a subdomain of it (BATON_WEBAUTHN_RP_ID, by default the issuer's host)", o, w.RPID)
			}
		}
		w.Origins = explicitOrigins
		return w
	}
	for _, o := range defaults {
		if covers(w.RPID, o) && !slices.Contains(w.Origins, o) {
			w.Origins = append(w.Origins, o)
		} else if !covers(w.RPID, o) {
			*notes = append(*notes, "passkeys: origin "+o+" is not covered by the RP id "+w.RPID+", so passkeys are not used from it")
		}
	}
	if len(w.Origins) == 0 {
		// Defaults give way: the RP id's own https origin.
		w.Origins = []string{"https://" + w.RPID}
		*notes = append(*notes, "passkeys: BATON_WEBAUTHN_ORIGINS defaults to https://"+w.RPID+", the only default origin BATON_WEBAUTHN_RP_ID covers")
	}
	return w
}

// validRPID reports whether id is a domain name (not an IP address).
func validRPID(id string) bool {
	if id == "" || len(id) > 253 {
		return false
	}
	if _, err := netip.ParseAddr(strings.Trim(id, "[]")); err == nil {
		return false
	}
	for _, label := range strings.Split(id, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// covers reports whether origin's host is rpID or a subdomain of it.
func covers(rpID, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	return h == rpID || strings.HasSuffix(h, "."+rpID)
}
