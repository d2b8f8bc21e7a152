package baton

import (
	"fmt"
	"strings"
)

// Authentication methods (RFC 8176) a session was created with; access
// tokens carry them as amr.
const (
	AMRPassword = "pwd" // a password
	AMROTP      = "otp" // a TOTP or recovery code
	AMRPasskey  = "hwk" // a passkey (proof of possession of a hardware key)
	// AMRMFA says that two independent factors were used. The caller adds
	// it: only it knows whether the methods it combined were independent.
	AMRMFA = "mfa"
)

// amrOrder is the canonical order of methods in Session.AMR and in tokens.
var amrOrder = [...]string{AMRPassword, AMROTP, AMRPasskey, AMRMFA}

// AMR returns methods without duplicates, in the canonical order (pwd, otp,
// hwk, mfa), so that one set of methods has one spelling in the store and
// in tokens. Names other than the four are dropped: claiming less than
// happened is safe, claiming a method nobody checked is not. nil when
// nothing is left.
func AMR(methods ...string) []string {
	var out []string
	for _, m := range amrOrder {
		for _, x := range methods {
			if x == m {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// FormatAMR is the stored form of a session's methods: space-separated, ""
// for none. It fails (EInternal) when amr is not in AMR's canonical form: a
// store must not write what it could not read back.
func FormatAMR(amr []string) (string, error) {
	if !canonicalAMR(amr) {
		return "", fmt.Errorf("authentication methods %.64q are not canonical", amr)
	}
	return strings.Join(amr, " "), nil
}

// ParseAMR reads FormatAMR's form back, refusing anything AMR would not
// have returned (unknown or repeated names, another order, stray spaces);
// only a damaged store holds such a value, so the error is internal. "" is
// nil.
func ParseAMR(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	amr := strings.Split(s, " ")
	if !canonicalAMR(amr) {
		return nil, fmt.Errorf("stored authentication methods %.64q are not canonical", s)
	}
	return amr, nil
}

// canonicalAMR reports whether AMR(amr...) would return amr itself.
func canonicalAMR(amr []string) bool {
	next := 0 // amr[i] must come from amrOrder[next:]
	for _, m := range amr {
		for next < len(amrOrder) && amrOrder[next] != m {
			next++
		}
		if next == len(amrOrder) {
			return false
		}
		next++
	}
	return true
}
