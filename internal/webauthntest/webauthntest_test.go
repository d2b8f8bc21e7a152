package webauthntest_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/batonauth/baton/internal/webauthntest"
)

// These tests check the authenticator against the specification with the
// standard library and a CBOR decoder of their own: they take responses
// apart byte by byte (WebAuthn L3 §6.1 authenticator data, §6.5 attestation
// object, RFC 9052/9053 COSE keys) and verify signatures independently.

var b64 = base64.RawURLEncoding

func unb64(t *testing.T, what, s string) []byte {
	t.Helper()
	b, err := b64.DecodeString(s)
	if err != nil {
		t.Fatalf("%s %q: not base64url without padding: %v", what, s, err)
	}
	return b
}

func random(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// creationOptions builds a PublicKeyCredentialCreationOptionsJSON the way a
// server would send it; wrap puts it inside {"publicKey": ...}.
type creationOptions struct {
	rpID    string
	userID  []byte
	chal    []byte
	algs    []int
	exclude [][]byte
	wrap    bool
}

func (o creationOptions) json(t *testing.T) []byte {
	t.Helper()
	params := []map[string]any{}
	for _, a := range o.algs {
		params = append(params, map[string]any{"type": "public-key", "alg": a})
	}
	rp := map[string]any{"name": "Baton"}
	if o.rpID != "" {
		rp["id"] = o.rpID
	}
	v := map[string]any{
		"rp":                     rp,
		"user":                   map[string]any{"id": b64.EncodeToString(o.userID), "name": "alice", "displayName": "Alice"},
		"challenge":              b64.EncodeToString(o.chal),
		"pubKeyCredParams":       params,
		"excludeCredentials":     descriptors(o.exclude),
		"timeout":                60000,
		"attestation":            "none",
		"authenticatorSelection": map[string]any{"residentKey": "required", "userVerification": "preferred"},
	}
	return marshalOptions(t, v, o.wrap)
}

// descriptors lists credential ids as PublicKeyCredentialDescriptorJSON.
func descriptors(ids [][]byte) []map[string]any {
	d := []map[string]any{}
	for _, id := range ids {
		d = append(d, map[string]any{"type": "public-key", "id": b64.EncodeToString(id)})
	}
	return d
}

// marshalOptions encodes options, inside {"publicKey": ...} when wrap.
func marshalOptions(t *testing.T, v map[string]any, wrap bool) []byte {
	t.Helper()
	if wrap {
		v = map[string]any{"publicKey": v}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// requestOptions builds a PublicKeyCredentialRequestOptionsJSON.
type requestOptions struct {
	rpID  string
	chal  []byte
	allow [][]byte
	wrap  bool
}

func (o requestOptions) json(t *testing.T) []byte {
	t.Helper()
	v := map[string]any{"challenge": b64.EncodeToString(o.chal), "userVerification": "preferred"}
	if o.rpID != "" {
		v["rpId"] = o.rpID
	}
	if len(o.allow) > 0 {
		v["allowCredentials"] = descriptors(o.allow)
	}
	return marshalOptions(t, v, o.wrap)
}

type clientData struct {
	Type        string `json:"type"`
	Challenge   string `json:"challenge"`
	Origin      string `json:"origin"`
	CrossOrigin *bool  `json:"crossOrigin"`
}

// parseClientData checks clientDataJSON against what the ceremony wants;
// §5.8.1.2 wants the members in this order, so the prefix is checked as text.
func parseClientData(t *testing.T, raw []byte, typ string, chal []byte, origin string, crossOrigin bool) {
	t.Helper()
	prefix := fmt.Sprintf(`{"type":%q,"challenge":%q,"origin":%q,"crossOrigin":%v`, typ, b64.EncodeToString(chal), origin, crossOrigin)
	if !bytes.HasPrefix(raw, []byte(prefix)) {
		t.Errorf("clientDataJSON %s\ndoes not start with %s", raw, prefix)
	}
	var cd clientData
	if err := json.Unmarshal(raw, &cd); err != nil {
		t.Fatalf("clientDataJSON: %v", err)
	}
	if cd.CrossOrigin == nil {
		t.Error("clientDataJSON has no crossOrigin")
	}
}

// authData is authenticator data taken apart (§6.1, §6.5.2).
type authData struct {
	raw      []byte
	rpIDHash []byte
	flags    byte
	counter  uint32
	aaguid   []byte
	credID   []byte
	cose     []byte
	key      crypto.PublicKey
	alg      int64
}

func parseAuthData(t *testing.T, b []byte) authData {
	t.Helper()
	if len(b) < 37 {
		t.Fatalf("authenticator data of %d bytes, want at least 37", len(b))
	}
	ad := authData{raw: b, rpIDHash: b[:32], flags: b[32], counter: binary.BigEndian.Uint32(b[33:37])}
	rest := b[37:]
	if ad.flags&webauthntest.FlagAT != 0 {
		if len(rest) < 18 {
			t.Fatalf("attested credential data truncated: %d bytes", len(rest))
		}
		ad.aaguid = rest[:16]
		n := int(binary.BigEndian.Uint16(rest[16:18]))
		rest = rest[18:]
		if len(rest) < n {
			t.Fatalf("credential id of %d bytes, only %d left", n, len(rest))
		}
		ad.credID, rest = rest[:n], rest[n:]
		v, after, err := cborNext(rest)
		if err != nil {
			t.Fatalf("COSE key: %v", err)
		}
		ad.cose, rest = rest[:len(rest)-len(after)], after
		ad.key, ad.alg = coseToKey(t, v)
	}
	if ad.flags&webauthntest.FlagED != 0 {
		t.Error("extension data flag set, none expected")
	}
	if len(rest) != 0 {
		t.Errorf("%d bytes after authenticator data", len(rest))
	}
	return ad
}

// coseToKey reads an EC2 P-256 or OKP Ed25519 COSE_Key (RFC 9053 §7.1, §7.2)
// and checks it holds exactly the members a credential public key needs.
func coseToKey(t *testing.T, v any) (crypto.PublicKey, int64) {
	t.Helper()
	m, ok := v.(map[any]any)
	if !ok {
		t.Fatalf("COSE key is a %T, want a map", v)
	}
	want := func(k, v int64) {
		t.Helper()
		if got := m[k]; got != v {
			t.Errorf("COSE key %d: got %v, want %d", k, got, v)
		}
	}
	coord := func(k int64) []byte {
		t.Helper()
		b, ok := m[k].([]byte)
		if !ok || len(b) != 32 {
			t.Fatalf("COSE key %d: got %v, want 32 bytes", k, m[k])
		}
		return b
	}
	switch m[int64(1)] {
	case int64(2): // EC2
		want(3, webauthntest.AlgES256)
		want(-1, 1) // P-256
		if len(m) != 5 {
			t.Errorf("EC2 key with %d members, want 5", len(m))
		}
		pt := append([]byte{4}, coord(-2)...)
		pt = append(pt, coord(-3)...)
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt)
		if err != nil {
			t.Fatalf("EC2 key not on P-256: %v", err)
		}
		return k, webauthntest.AlgES256
	case int64(1): // OKP
		want(3, webauthntest.AlgEdDSA)
		want(-1, 6) // Ed25519
		if len(m) != 4 {
			t.Errorf("OKP key with %d members, want 4", len(m))
		}
		return ed25519.PublicKey(coord(-2)), webauthntest.AlgEdDSA
	}
	t.Fatalf("COSE key type %v", m[int64(1)])
	return nil, 0
}

// verify checks a signature over authData || SHA-256(clientDataJSON).
func verify(key crypto.PublicKey, authData, clientDataJSON, sig []byte) bool {
	cdh := sha256.Sum256(clientDataJSON)
	msg := append(append([]byte(nil), authData...), cdh[:]...)
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		h := sha256.Sum256(msg)
		return ecdsa.VerifyASN1(k, h[:], sig)
	case ed25519.PublicKey:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k, msg, sig)
	}
	return false
}

func sha(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

type registration struct {
	ID       string `json:"id"`
	RawID    string `json:"rawId"`
	Type     string `json:"type"`
	Response struct {
		ClientDataJSON     string   `json:"clientDataJSON"`
		AuthenticatorData  string   `json:"authenticatorData"`
		Transports         []string `json:"transports"`
		PublicKey          string   `json:"publicKey"`
		PublicKeyAlgorithm int      `json:"publicKeyAlgorithm"`
		AttestationObject  string   `json:"attestationObject"`
	} `json:"response"`
	AuthenticatorAttachment string          `json:"authenticatorAttachment"`
	ClientExtensionResults  json.RawMessage `json:"clientExtensionResults"`
}

// regWant is what a registration response must say.
type regWant struct {
	rpID        string // whose SHA-256 is rpIdHash
	origin      string
	crossOrigin bool
	chal        []byte
	alg         int64
	format      string
	flags       byte
}

// checkRegistration takes a RegistrationResponseJSON apart, checks it
// against want and returns the attested credential.
func checkRegistration(t *testing.T, resp []byte, want regWant) authData {
	t.Helper()
	var r registration
	if err := json.Unmarshal(resp, &r); err != nil {
		t.Fatalf("registration response: %v", err)
	}
	if r.ID != r.RawID || r.Type != "public-key" || string(r.ClientExtensionResults) != "{}" {
		t.Errorf("id %q rawId %q type %q clientExtensionResults %s", r.ID, r.RawID, r.Type, r.ClientExtensionResults)
	}
	cdj := unb64(t, "clientDataJSON", r.Response.ClientDataJSON)
	parseClientData(t, cdj, "webauthn.create", want.chal, want.origin, want.crossOrigin)

	v, err := cborDecode(unb64(t, "attestationObject", r.Response.AttestationObject))
	if err != nil {
		t.Fatalf("attestationObject: %v", err)
	}
	obj, ok := v.(map[any]any)
	if !ok || len(obj) != 3 {
		t.Fatalf("attestationObject %v, want a map of fmt, attStmt, authData", v)
	}
	rawAD, _ := obj["authData"].([]byte)
	ad := parseAuthData(t, rawAD)
	if got := r.Response.AuthenticatorData; got != b64.EncodeToString(rawAD) {
		t.Errorf("response.authenticatorData differs from the attestation object's")
	}
	if !bytes.Equal(ad.rpIDHash, sha(want.rpID)) {
		t.Errorf("rpIdHash %x, want SHA-256(%q)", ad.rpIDHash, want.rpID)
	}
	if ad.flags != want.flags {
		t.Errorf("flags %08b, want %08b", ad.flags, want.flags)
	}
	if ad.counter != 0 || !bytes.Equal(ad.aaguid, make([]byte, 16)) || len(ad.credID) != 32 {
		t.Errorf("counter %d aaguid %x credential id of %d bytes, want 0, zero, 32", ad.counter, ad.aaguid, len(ad.credID))
	}
	if got := unb64(t, "rawId", r.RawID); !bytes.Equal(got, ad.credID) {
		t.Errorf("rawId %x, attested credential id %x", got, ad.credID)
	}
	if ad.alg != want.alg || int64(r.Response.PublicKeyAlgorithm) != want.alg {
		t.Errorf("alg: COSE %d, publicKeyAlgorithm %d, want %d", ad.alg, r.Response.PublicKeyAlgorithm, want.alg)
	}
	spki, err := x509.ParsePKIXPublicKey(unb64(t, "publicKey", r.Response.PublicKey))
	if err != nil {
		t.Fatalf("response.publicKey: %v", err)
	}
	if !spki.(interface{ Equal(crypto.PublicKey) bool }).Equal(ad.key) {
		t.Error("response.publicKey is not the attested key")
	}

	stmt, _ := obj["attStmt"].(map[any]any)
	switch got := obj["fmt"]; {
	case got != want.format:
		t.Errorf("fmt %v, want %q", got, want.format)
	case want.format == "none":
		if len(stmt) != 0 {
			t.Errorf("none attStmt %v, want empty", stmt)
		}
	case want.format == "packed":
		// §8.2 self attestation: alg and sig, no x5c; sig by the credential key.
		sig, _ := stmt["sig"].([]byte)
		if len(stmt) != 2 || stmt["alg"] != want.alg {
			t.Errorf("packed attStmt %v, want alg %d and sig", stmt, want.alg)
		}
		if !verify(ad.key, rawAD, cdj, sig) {
			t.Error("packed self-attestation signature does not verify")
		}
	}
	return ad
}

type assertion struct {
	ID       string `json:"id"`
	RawID    string `json:"rawId"`
	Type     string `json:"type"`
	Response struct {
		ClientDataJSON    string  `json:"clientDataJSON"`
		AuthenticatorData string  `json:"authenticatorData"`
		Signature         string  `json:"signature"`
		UserHandle        *string `json:"userHandle"`
	} `json:"response"`
	ClientExtensionResults json.RawMessage `json:"clientExtensionResults"`
}

// parseAssertion takes an AuthenticationResponseJSON apart.
func parseAssertion(t *testing.T, resp []byte) (a assertion, cdj []byte, ad authData, sig []byte) {
	t.Helper()
	if err := json.Unmarshal(resp, &a); err != nil {
		t.Fatalf("authentication response: %v", err)
	}
	if a.ID != a.RawID || a.Type != "public-key" || string(a.ClientExtensionResults) != "{}" {
		t.Errorf("id %q rawId %q type %q clientExtensionResults %s", a.ID, a.RawID, a.Type, a.ClientExtensionResults)
	}
	cdj = unb64(t, "clientDataJSON", a.Response.ClientDataJSON)
	ad = parseAuthData(t, unb64(t, "authenticatorData", a.Response.AuthenticatorData))
	sig = unb64(t, "signature", a.Response.Signature)
	return a, cdj, ad, sig
}

// COSE keys as RFC 9052 and RFC 9053 spell them, assembled by hand: map
// heads, then 1 (kty), 3 (alg), -1 (crv), -2 (x) and -3 (y), each x or y a
// 32-byte string (0x58 0x20).
var (
	coseEC2Prefix = []byte{0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20}
	coseOKPPrefix = []byte{0xa4, 0x01, 0x01, 0x03, 0x27, 0x20, 0x06, 0x21, 0x58, 0x20}
)

func TestRegister(t *testing.T) {
	const (
		up = webauthntest.FlagUP
		uv = webauthntest.FlagUV
		at = webauthntest.FlagAT
		be = webauthntest.FlagBE
		bs = webauthntest.FlagBS
	)
	for _, tc := range []struct {
		name       string
		opt        webauthntest.Options
		rpID       string // in the options
		wrap       bool
		algs       []int
		wantRPID   string
		wantOrigin string
		wantFlags  byte
	}{
		{"ES256/none", webauthntest.Options{}, "example.com", false, []int{-7}, "example.com", "https://example.com", up | at},
		{"ES256/packed/wrapped/UV", webauthntest.Options{Attestation: "packed", UV: true}, "example.com", true, []int{-8, -7, -257}, "example.com", "https://example.com", up | uv | at},
		{"ES256/defaultParams", webauthntest.Options{}, "example.com", false, nil, "example.com", "https://example.com", up | at},
		{"EdDSA/none/synced/crossOrigin", webauthntest.Options{Alg: -8, UV: true, BackupEligible: true, BackedUp: true, CrossOrigin: true}, "example.com", false, []int{-7, -8}, "example.com", "https://example.com", up | uv | be | bs | at},
		{"EdDSA/packed/wrapped", webauthntest.Options{Alg: -8, Attestation: "packed"}, "example.com", true, []int{-8}, "example.com", "https://example.com", up | at},
		{"Origin", webauthntest.Options{Origin: "http://localhost:8080"}, "localhost", false, []int{-7}, "localhost", "http://localhost:8080", up | at},
		{"RPIDFromOrigin", webauthntest.Options{Origin: "https://login.example.com"}, "", false, []int{-7}, "login.example.com", "https://login.example.com", up | at},
		{"RPIDOverride", webauthntest.Options{RPID: "evil.example"}, "example.com", false, []int{-7}, "evil.example", "https://example.com", up | at},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := webauthntest.New(tc.opt)
			userID, chal := random(t, 16), random(t, 32)
			resp, err := a.Register(creationOptions{rpID: tc.rpID, userID: userID, chal: chal, algs: tc.algs, wrap: tc.wrap}.json(t))
			if err != nil {
				t.Fatalf("Register: %v", err)
			}
			alg, format := int64(-7), "none"
			if tc.opt.Alg != 0 {
				alg = int64(tc.opt.Alg)
			}
			if tc.opt.Attestation != "" {
				format = tc.opt.Attestation
			}
			ad := checkRegistration(t, resp, regWant{
				rpID: tc.wantRPID, origin: tc.wantOrigin, crossOrigin: tc.opt.CrossOrigin,
				chal: chal, alg: alg, format: format, flags: tc.wantFlags,
			})

			prefix := coseEC2Prefix
			if alg == webauthntest.AlgEdDSA {
				prefix = coseOKPPrefix
			}
			if !bytes.HasPrefix(ad.cose, prefix) {
				t.Errorf("COSE key % x does not start with % x", ad.cose, prefix)
			}
			c := a.Credential()
			if !bytes.Equal(c.ID, ad.credID) || !bytes.Equal(c.UserHandle, userID) || c.RPID != tc.wantRPID ||
				int64(c.Alg) != alg || c.Counter != 0 || !bytes.Equal(c.COSEKey, ad.cose) {
				t.Errorf("Credential() = %+v, want id %x user %x RP %q alg %d counter 0", c, ad.credID, userID, tc.wantRPID, alg)
			}
			if !ad.key.(interface{ Equal(crypto.PublicKey) bool }).Equal(c.PublicKey) {
				t.Error("Credential().PublicKey is not the attested key")
			}
		})
	}
}

func TestRegisterRefuses(t *testing.T) {
	held := webauthntest.New(webauthntest.Options{})
	if _, err := held.Register(creationOptions{rpID: "example.com", userID: []byte("u"), chal: []byte("c"), algs: []int{-7}}.json(t)); err != nil {
		t.Fatal(err)
	}
	heldID := held.Credential().ID
	for _, tc := range []struct {
		name string
		a    *webauthntest.Authenticator
		opt  []byte
	}{
		{"AlgNotOffered", webauthntest.New(webauthntest.Options{Alg: -8}), creationOptions{rpID: "example.com", userID: []byte("u"), chal: []byte("c"), algs: []int{-7, -257}}.json(t)},
		{"DefaultParamsNotEdDSA", webauthntest.New(webauthntest.Options{Alg: -8}), creationOptions{rpID: "example.com", userID: []byte("u"), chal: []byte("c")}.json(t)},
		{"Excluded", held, creationOptions{rpID: "example.com", userID: []byte("v"), chal: []byte("c"), algs: []int{-7}, exclude: [][]byte{[]byte("other"), heldID}}.json(t)},
		{"NoChallenge", webauthntest.New(webauthntest.Options{}), creationOptions{rpID: "example.com", userID: []byte("u"), algs: []int{-7}}.json(t)},
		{"NoUserID", webauthntest.New(webauthntest.Options{}), creationOptions{rpID: "example.com", chal: []byte("c"), algs: []int{-7}}.json(t)},
		{"NoRPIDNoOrigin", webauthntest.New(webauthntest.Options{}), creationOptions{userID: []byte("u"), chal: []byte("c"), algs: []int{-7}}.json(t)},
		{"ChallengeNotBase64url", webauthntest.New(webauthntest.Options{}), []byte(`{"rp":{"id":"example.com"},"user":{"id":"dQ"},"challenge":"a+b/","pubKeyCredParams":[{"type":"public-key","alg":-7}]}`)},
		{"WrongParamType", webauthntest.New(webauthntest.Options{}), []byte(`{"rp":{"id":"example.com"},"user":{"id":"dQ"},"challenge":"Yw","pubKeyCredParams":[{"type":"password","alg":-7}]}`)},
		{"NotJSON", webauthntest.New(webauthntest.Options{}), []byte(`{"rp":`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(tc.a.Credentials())
			if resp, err := tc.a.Register(tc.opt); err == nil {
				t.Fatalf("Register succeeded: %s", resp)
			}
			if got := len(tc.a.Credentials()); got != before {
				t.Errorf("%d credentials after a refusal, want %d", got, before)
			}
		})
	}
}

func TestLogin(t *testing.T) {
	for _, tc := range []struct {
		name         string
		opt          webauthntest.Options
		wantFlags    byte
		wantCounters []uint32
	}{
		{"ES256", webauthntest.Options{}, webauthntest.FlagUP, []uint32{1, 2, 3}},
		{"EdDSA/UV/synced", webauthntest.Options{Alg: -8, UV: true, BackupEligible: true, BackedUp: true},
			webauthntest.FlagUP | webauthntest.FlagUV | webauthntest.FlagBE | webauthntest.FlagBS, []uint32{1, 2, 3}},
		{"ES256/NoCounter/crossOrigin", webauthntest.Options{NoCounter: true, CrossOrigin: true}, webauthntest.FlagUP, []uint32{0, 0, 0}},
		{"EdDSA/NoCounter", webauthntest.Options{Alg: -8, NoCounter: true}, webauthntest.FlagUP, []uint32{0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := webauthntest.New(tc.opt)
			userID := random(t, 64)
			resp, err := a.Register(creationOptions{rpID: "example.com", userID: userID, chal: random(t, 32), algs: []int{-7, -8}}.json(t))
			if err != nil {
				t.Fatal(err)
			}
			var reg registration
			if err := json.Unmarshal(resp, &reg); err != nil {
				t.Fatal(err)
			}
			obj, err := cborDecode(unb64(t, "attestationObject", reg.Response.AttestationObject))
			if err != nil {
				t.Fatal(err)
			}
			cred := parseAuthData(t, obj.(map[any]any)["authData"].([]byte))

			for i, want := range tc.wantCounters {
				// Discoverable, wrapped, then with allowCredentials.
				o := requestOptions{rpID: "example.com", chal: random(t, 32), wrap: i == 1}
				if i == 2 {
					o.allow = [][]byte{[]byte("unknown"), cred.credID}
				}
				resp, err := a.Login(o.json(t))
				if err != nil {
					t.Fatalf("Login %d: %v", i, err)
				}
				r, cdj, ad, sig := parseAssertion(t, resp)
				parseClientData(t, cdj, "webauthn.get", o.chal, "https://example.com", tc.opt.CrossOrigin)
				if got := unb64(t, "rawId", r.RawID); !bytes.Equal(got, cred.credID) {
					t.Errorf("rawId %x, want %x", got, cred.credID)
				}
				if r.Response.UserHandle == nil || !bytes.Equal(unb64(t, "userHandle", *r.Response.UserHandle), userID) {
					t.Errorf("userHandle %v, want %x", r.Response.UserHandle, userID)
				}
				if !bytes.Equal(ad.rpIDHash, sha("example.com")) || ad.flags != tc.wantFlags || ad.counter != want {
					t.Errorf("rpIdHash %x flags %08b counter %d, want SHA-256(example.com) %08b %d", ad.rpIDHash, ad.flags, ad.counter, tc.wantFlags, want)
				}
				if len(ad.raw) != 37 {
					t.Errorf("assertion authenticator data of %d bytes, want 37", len(ad.raw))
				}
				if !verify(cred.key, ad.raw, cdj, sig) {
					t.Error("signature does not verify with the registered key")
				}
				if got := a.Credential().Counter; got != want {
					t.Errorf("Credential().Counter %d, want %d", got, want)
				}
			}
		})
	}
}

func TestSetCounter(t *testing.T) {
	a := webauthntest.New(webauthntest.Options{})
	if _, err := a.Register(creationOptions{rpID: "example.com", userID: []byte("u"), chal: []byte("c"), algs: []int{-7}}.json(t)); err != nil {
		t.Fatal(err)
	}
	for _, set := range []uint32{10, 2, 0xfffffffe} {
		a.SetCounter(set)
		resp, err := a.Login(requestOptions{rpID: "example.com", chal: []byte("c")}.json(t))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, ad, _ := parseAssertion(t, resp); ad.counter != set+1 {
			t.Errorf("after SetCounter(%d): counter %d, want %d", set, ad.counter, set+1)
		}
	}
}

// TestResidentCredentials checks which credential a login uses when the
// authenticator holds several.
func TestResidentCredentials(t *testing.T) {
	a := webauthntest.New(webauthntest.Options{})
	reg := func(rpID, user string) []byte {
		t.Helper()
		if _, err := a.Register(creationOptions{rpID: rpID, userID: []byte(user), chal: []byte("c"), algs: []int{-7}}.json(t)); err != nil {
			t.Fatal(err)
		}
		return a.Credential().ID
	}
	alice := reg("example.com", "alice")
	bob := reg("example.com", "bob")
	other := reg("other.example", "alice")
	login := func(rpID string, allow ...[]byte) ([]byte, error) {
		t.Helper()
		resp, err := a.Login(requestOptions{rpID: rpID, chal: []byte("c"), allow: allow}.json(t))
		if err != nil {
			return nil, err
		}
		r, _, _, _ := parseAssertion(t, resp)
		return unb64(t, "rawId", r.RawID), nil
	}
	for _, tc := range []struct {
		name  string
		rpID  string
		allow [][]byte
		want  []byte // nil: refused
	}{
		{"DiscoverableNewest", "example.com", nil, bob},
		{"DiscoverableOtherRP", "other.example", nil, other},
		{"Allowed", "example.com", [][]byte{alice}, alice},
		{"FirstAllowedHeld", "example.com", [][]byte{[]byte("gone"), alice, bob}, alice},
		{"AllowedOtherRP", "example.com", [][]byte{other}, nil},
		{"AllowedUnknown", "example.com", [][]byte{[]byte("gone")}, nil},
		{"UnknownRP", "nowhere.example", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := login(tc.rpID, tc.allow...)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("login with credential %x, want a refusal", got)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Errorf("got credential %x (%v), want %x", got, err, tc.want)
			}
		})
	}

	t.Run("ReRegisterReplaces", func(t *testing.T) {
		again := reg("example.com", "alice")
		var ids [][]byte
		for _, c := range a.Credentials() {
			ids = append(ids, c.ID)
		}
		want := [][]byte{bob, other, again}
		if !slices.EqualFunc(ids, want, bytes.Equal) {
			t.Errorf("credentials %x, want %x", ids, want)
		}
		if _, err := login("example.com", alice); err == nil {
			t.Error("the replaced credential still signs")
		}
	})
}

func TestLoginWith(t *testing.T) {
	for _, alg := range []int{webauthntest.AlgES256, webauthntest.AlgEdDSA} {
		t.Run(fmt.Sprint(alg), func(t *testing.T) {
			a := webauthntest.New(webauthntest.Options{Alg: alg})
			if _, err := a.Register(creationOptions{rpID: "example.com", userID: []byte("u"), chal: []byte("c"), algs: []int{alg}}.json(t)); err != nil {
				t.Fatal(err)
			}
			key := a.Credential().PublicKey
			opts := requestOptions{rpID: "example.com", chal: []byte("c")}.json(t)

			// The hook's changes are signed, so a server sees one fault only.
			resp, err := a.LoginWith(opts, func(as *webauthntest.Assertion) {
				as.CredentialID = []byte("other")
				as.ClientData.Origin = "https://evil.example"
				as.RPIDHash = sha("evil.example")
				as.Flags = webauthntest.FlagUV
				as.Counter = 7
				as.UserHandle = nil
			})
			if err != nil {
				t.Fatal(err)
			}
			r, cdj, ad, sig := parseAssertion(t, resp)
			parseClientData(t, cdj, "webauthn.get", []byte("c"), "https://evil.example", false)
			if r.RawID != b64.EncodeToString([]byte("other")) || r.Response.UserHandle != nil {
				t.Errorf("rawId %q userHandle %v, want %q and none", r.RawID, r.Response.UserHandle, b64.EncodeToString([]byte("other")))
			}
			if !bytes.Equal(ad.rpIDHash, sha("evil.example")) || ad.flags != webauthntest.FlagUV || ad.counter != 7 {
				t.Errorf("rpIdHash %x flags %08b counter %d", ad.rpIDHash, ad.flags, ad.counter)
			}
			if !verify(key, ad.raw, cdj, sig) {
				t.Error("edited assertion not signed")
			}
			if got := a.Credential().Counter; got != 1 {
				t.Errorf("stored counter %d after one login, want 1", got)
			}

			resp, err = a.LoginWith(opts, func(as *webauthntest.Assertion) { as.ClientDataJSON = []byte(`not json`) })
			if err != nil {
				t.Fatal(err)
			}
			_, cdj, ad, sig = parseAssertion(t, resp)
			if string(cdj) != "not json" || !verify(key, ad.raw, cdj, sig) {
				t.Errorf("raw clientDataJSON %q not sent as is or not signed", cdj)
			}

			resp, err = a.LoginWith(opts, func(as *webauthntest.Assertion) { as.CorruptSignature = true })
			if err != nil {
				t.Fatal(err)
			}
			if _, cdj, ad, sig := parseAssertion(t, resp); verify(key, ad.raw, cdj, sig) {
				t.Error("corrupted signature verifies")
			}
		})
	}
}

func TestRegisterWith(t *testing.T) {
	for _, alg := range []int{webauthntest.AlgES256, webauthntest.AlgEdDSA} {
		t.Run(fmt.Sprint(alg), func(t *testing.T) {
			a := webauthntest.New(webauthntest.Options{Alg: alg, Attestation: "packed"})
			opts := creationOptions{rpID: "example.com", userID: []byte("u"), chal: []byte("c"), algs: []int{alg}}.json(t)
			resp, err := a.RegisterWith(opts, func(at *webauthntest.Attestation) {
				at.ClientData.Type = "webauthn.get"
				at.RPIDHash = sha("evil.example")
				at.Flags = webauthntest.FlagAT
				at.Counter = 9
			})
			if err != nil {
				t.Fatal(err)
			}
			var r registration
			if err := json.Unmarshal(resp, &r); err != nil {
				t.Fatal(err)
			}
			parseClientData(t, unb64(t, "clientDataJSON", r.Response.ClientDataJSON), "webauthn.get", []byte("c"), "https://example.com", false)
			ad := parseAuthData(t, unb64(t, "authenticatorData", r.Response.AuthenticatorData))
			if !bytes.Equal(ad.rpIDHash, sha("evil.example")) || ad.flags != webauthntest.FlagAT || ad.counter != 9 {
				t.Errorf("rpIdHash %x flags %08b counter %d", ad.rpIDHash, ad.flags, ad.counter)
			}

			resp, err = a.RegisterWith(opts, func(at *webauthntest.Attestation) { at.CorruptSignature = true })
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(resp, &r); err != nil {
				t.Fatal(err)
			}
			obj, err := cborDecode(unb64(t, "attestationObject", r.Response.AttestationObject))
			if err != nil {
				t.Fatal(err)
			}
			m := obj.(map[any]any)
			ad = parseAuthData(t, m["authData"].([]byte))
			sig := m["attStmt"].(map[any]any)["sig"].([]byte)
			if verify(ad.key, ad.raw, unb64(t, "clientDataJSON", r.Response.ClientDataJSON), sig) {
				t.Error("corrupted packed signature verifies")
			}
		})
	}
}

// TestConcurrentLogins checks that concurrent logins each get a counter of
// their own, as a server testing counter races needs.
func TestConcurrentLogins(t *testing.T) {
	a := webauthntest.New(webauthntest.Options{})
	if _, err := a.Register(creationOptions{rpID: "example.com", userID: []byte("u"), chal: []byte("c"), algs: []int{-7}}.json(t)); err != nil {
		t.Fatal(err)
	}
	opts := requestOptions{rpID: "example.com", chal: []byte("c")}.json(t)
	const n = 16
	resps := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resps[i], _ = a.Login(opts)
		})
	}
	wg.Wait()
	var got []uint32
	for _, r := range resps {
		_, _, ad, _ := parseAssertion(t, r)
		got = append(got, ad.counter)
	}
	slices.Sort(got)
	for i, c := range got {
		if c != uint32(i+1) {
			t.Fatalf("counters %v, want 1 to %d once each", got, n)
		}
	}
}

// FuzzOptions feeds arbitrary options to Register and Login: they must
// return an error, never panic.
func FuzzOptions(f *testing.F) {
	f.Add([]byte(`{"publicKey":{"rp":{"id":"example.com"},"user":{"id":"dQ"},"challenge":"Yw","pubKeyCredParams":[{"type":"public-key","alg":-7}]}}`))
	f.Add([]byte(`{"challenge":"Yw","rpId":"example.com","allowCredentials":[{"type":"public-key","id":"AA=="}]}`))
	f.Add([]byte(`{"publicKey":null,"rp":{},"challenge":"====","user":{"id":""}}`))
	f.Fuzz(func(t *testing.T, opts []byte) {
		a := webauthntest.New(webauthntest.Options{})
		a.Register(opts)
		a.Login(opts)
	})
}
