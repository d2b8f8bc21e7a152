package dpop_test

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/dpop"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
)

func TestVerify(t *testing.T) {
	const accessToken = "an-access-token"
	for _, alg := range []string{"ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			clk := newClock(t0)
			p, err := dpop.NewProver(alg)
			if err != nil {
				t.Fatal(err)
			}
			p.Now = clk.Now
			v := mustVerifier(t, clk, dpop.Options{})
			for _, tt := range []struct {
				name                     string
				method, url, accessToken string
			}{
				{"TokenEndpoint", "POST", "https://auth.example.com/token", ""},
				{"WithAccessToken", "GET", testURL, accessToken},
				{"QueryAndFragmentIgnored", "GET", testURL + "?a=1#frag", accessToken},
			} {
				t.Run(tt.name, func(t *testing.T) {
					proof := mustProof(t, p, tt.method, tt.url, tt.accessToken, "")
					got, err := v.Verify(proof, tt.method, tt.url, tt.accessToken)
					if err != nil {
						t.Fatalf("Verify: %v", err)
					}
					want := &dpop.Proof{JKT: p.JKT(), JTI: got.JTI, IssuedAt: t0}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("proof (-want +got):\n%s", diff)
					}
					if len(got.JTI) < 22 {
						t.Errorf("jti %q is shorter than 128 random bits", got.JTI)
					}
				})
			}
		})
	}

	t.Run("AlgorithmsRestricted", func(t *testing.T) {
		clk := newClock(t0)
		v := mustVerifier(t, clk, dpop.Options{Algorithms: []string{"EdDSA"}})
		proof := mustProof(t, mustProver(t, newECKey(t), clk), "POST", testURL, "", "")
		if _, err := v.Verify(proof, "POST", testURL, ""); code(t, err) != baton.EInvalidDPoPProof {
			t.Errorf("ES256 proof to an EdDSA-only verifier: got %v, want %s", err, baton.EInvalidDPoPProof)
		}
	})
}

// TestVerifyRFCExamples checks the example proofs of RFC 9449 (§4.1
// Figure 2, a token request; §7.1 Figure 13, a resource request with an
// access token), made by another implementation, and the key's thumbprint
// given in §6.1.
func TestVerifyRFCExamples(t *testing.T) {
	const (
		header = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19"
		jkt    = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	)
	for _, tt := range []struct {
		name, proof, method, url, accessToken, jti string
		iat                                        int64
	}{
		{
			name:   "Figure2",
			proof:  header + ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg",
			method: "POST", url: "https://server.example.com/token",
			jti: "-BwC3ESc6acc2lTc", iat: 1562262616,
		},
		{
			name:   "Figure13",
			proof:  header + ".eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA",
			method: "GET", url: "https://resource.example.org/protectedresource",
			accessToken: "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU",
			jti:         "e1j3V_bKic8-LAEB", iat: 1562262618,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := mustVerifier(t, newClock(time.Unix(tt.iat+1, 0)), dpop.Options{})
			got, err := v.Verify(tt.proof, tt.method, tt.url, tt.accessToken)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := &dpop.Proof{JKT: jkt, JTI: tt.jti, IssuedAt: time.Unix(tt.iat, 0).UTC()}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("proof (-want +got):\n%s", diff)
			}
		})
	}
}

// TestVerifyAttacks is the catalogue of forged, broken and misdirected
// proofs. Each case is checked by a fresh verifier at t0 for POST testURL
// with the case's access token, and must get wantCode.
func TestVerifyAttacks(t *testing.T) {
	ec, ec2, ed := newECKey(t), newECKey(t), newEdKey(t)
	ecJ, ec2J, edJ := ecJWK(t, ec), ecJWK(t, ec2), edJWK(ed)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaJ := fmt.Sprintf(`{"kty":"RSA","n":%q,"e":"AQAB"}`, b64.EncodeToString(rsaKey.N.Bytes()))

	es := func(header, payload string) string { return sign(t, jwt.SigningMethodES256, ec, header, payload) }
	valid := claimsWith(t, nil)
	ath := func(token string) string {
		sum := sha256.Sum256([]byte(token))
		return b64.EncodeToString(sum[:])
	}
	goodSig := es(hdr("ES256", ecJ), valid)
	parts := strings.Split(goodSig, ".")
	sig, _ := b64.DecodeString(parts[2])
	sig[10] ^= 1
	badSig := parts[0] + "." + parts[1] + "." + b64.EncodeToString(sig)
	// HS256 keyed with the public key: the classic confusion attack on
	// verifiers that take the key from the token and the algorithm too.
	hsInput := b64.EncodeToString([]byte(hdr("HS256", ecJ))) + "." + b64.EncodeToString([]byte(valid))
	mac := hmac.New(sha256.New, []byte(ecJ))
	mac.Write([]byte(hsInput))
	hs256 := hsInput + "." + b64.EncodeToString(mac.Sum(nil))
	noneInput := b64.EncodeToString([]byte(hdr("none", ecJ))) + "." + b64.EncodeToString([]byte(valid))

	const ok, bad = "", baton.EInvalidDPoPProof
	for _, tt := range []struct {
		name        string
		proof       string
		method, url string // default POST testURL
		accessToken string
		wantCode    string
	}{
		{name: "OK", proof: goodSig, wantCode: ok},
		{name: "OKEdDSA", proof: sign(t, jwt.SigningMethodEdDSA, ed, hdr("EdDSA", edJ), valid), wantCode: ok},
		{name: "OKTypWithPrefix", proof: es(`{"typ":"application/DPoP+JWT","alg":"ES256","jwk":`+ecJ+`}`, valid), wantCode: ok},
		{name: "OKOtherHeaderAndJWKMembers", proof: es(`{"typ":"dpop+jwt","alg":"ES256","kid":"k","jwk":{"kty":"EC","crv":"P-256","x":`+jsonField(ecJ, "x")+`,"y":`+jsonField(ecJ, "y")+`,"ext":true,"key_ops":["verify"]}}`, valid), wantCode: ok},
		{name: "OKExtraClaims", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"extra": map[string]any{"a": 1}})), wantCode: ok},

		// The JWS and its key.
		{name: "WrongTyp", proof: es(`{"typ":"JWT","alg":"ES256","jwk":`+ecJ+`}`, valid), wantCode: bad},
		{name: "AccessTokenTyp", proof: es(`{"typ":"at+jwt","alg":"ES256","jwk":`+ecJ+`}`, valid), wantCode: bad},
		{name: "NoTyp", proof: es(`{"alg":"ES256","jwk":`+ecJ+`}`, valid), wantCode: bad},
		{name: "AlgNone", proof: noneInput + ".", wantCode: bad},
		{name: "AlgNoneWithSignature", proof: noneInput + "." + parts[2], wantCode: bad},
		{name: "HS256PublicKeyAsSecret", proof: hs256, wantCode: bad},
		{name: "RS256", proof: sign(t, jwt.SigningMethodRS256, rsaKey, hdr("RS256", rsaJ), valid), wantCode: bad},
		{name: "ES384", proof: es(hdr("ES384", ecJ), valid), wantCode: bad},
		{name: "UnknownAlg", proof: es(hdr("XX1", ecJ), valid), wantCode: bad},
		{name: "NoJWK", proof: es(`{"typ":"dpop+jwt","alg":"ES256"}`, valid), wantCode: bad},
		{name: "JWKNotObject", proof: es(`{"typ":"dpop+jwt","alg":"ES256","jwk":"key"}`, valid), wantCode: bad},
		{name: "JWKPrivate", proof: es(hdr("ES256", strings.TrimSuffix(ecJ, "}")+`,"d":`+fmt.Sprintf("%q", b64.EncodeToString(mustBytes(t, ec)))+`}`), valid), wantCode: bad},
		{name: "JWKPrivateFolded", proof: es(hdr("ES256", strings.TrimSuffix(ecJ, "}")+`,"D":"AAAA"}`), valid), wantCode: bad},
		{name: "JWKSymmetric", proof: es(hdr("ES256", strings.TrimSuffix(ecJ, "}")+`,"k":"AAAA"}`), valid), wantCode: bad},
		{name: "JWKOtherKey", proof: es(hdr("ES256", ec2J), valid), wantCode: bad},
		{name: "JWKTypeNotAlg", proof: es(hdr("ES256", edJ), valid), wantCode: bad},
		{name: "EdDSAWithECKey", proof: sign(t, jwt.SigningMethodEdDSA, ed, hdr("EdDSA", ecJ), valid), wantCode: bad},
		{name: "JWKOtherCurve", proof: es(hdr("ES256", strings.Replace(ecJ, "P-256", "P-384", 1)), valid), wantCode: bad},
		{name: "JWKPointOffCurve", proof: es(hdr("ES256", strings.Replace(ecJ, jsonField(ecJ, "y"), jsonField(ec2J, "y"), 1)), valid), wantCode: bad},
		{name: "JWKShortX", proof: es(hdr("ES256", strings.Replace(ecJ, jsonField(ecJ, "x"), `"AAAA"`, 1)), valid), wantCode: bad},
		{name: "JWKPaddedX", proof: sign(t, jwt.SigningMethodEdDSA, ed, hdr("EdDSA", strings.Replace(edJ, `"}`, `="}`, 1)), valid), wantCode: bad},
		{name: "BadSignature", proof: badSig, wantCode: bad},
		{name: "NoSignature", proof: parts[0] + "." + parts[1] + ".", wantCode: bad},
		{name: "Crit", proof: es(`{"typ":"dpop+jwt","alg":"ES256","crit":["exp"],"exp":1,"jwk":`+ecJ+`}`, valid), wantCode: bad},

		// Strict JSON.
		{name: "DuplicateClaim", proof: es(hdr("ES256", ecJ), `{"jti":"a","htm":"POST","htu":"`+testURL+`","iat":`+fmt.Sprint(t0.Unix())+`,"jti":"b"}`), wantCode: bad},
		{name: "DuplicateHtu", proof: es(hdr("ES256", ecJ), `{"jti":"a","htm":"POST","htu":"https://evil.example/","iat":`+fmt.Sprint(t0.Unix())+`,"htu":"`+testURL+`"}`), wantCode: bad},
		{name: "FoldedClaim", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"HTU": "https://evil.example/"})), wantCode: bad},
		{name: "EscapedDuplicateClaim", proof: es(hdr("ES256", ecJ), strings.TrimSuffix(valid, "}")+`,"\u006a\u0074\u0069":"b"}`), wantCode: bad},
		{name: "DuplicateUnknownClaim", proof: es(hdr("ES256", ecJ), strings.TrimSuffix(valid, "}")+`,"x":1,"x":2}`), wantCode: bad},
		{name: "DuplicateHeaderAlg", proof: es(`{"typ":"dpop+jwt","alg":"none","alg":"ES256","jwk":`+ecJ+`}`, valid), wantCode: bad},
		{name: "DuplicateHeaderJWK", proof: es(`{"typ":"dpop+jwt","alg":"ES256","jwk":`+ec2J+`,"jwk":`+ecJ+`}`, valid), wantCode: bad},
		{name: "DuplicateJWKMember", proof: es(hdr("ES256", strings.TrimSuffix(ecJ, "}")+`,"x":`+jsonField(ec2J, "x")+`}`), valid), wantCode: bad},
		{name: "TrailingGarbage", proof: es(hdr("ES256", ecJ), valid+"x"), wantCode: bad},
		{name: "ClaimsNotObject", proof: es(hdr("ES256", ecJ), `["jti"]`), wantCode: bad},
		{name: "NullJti", proof: es(hdr("ES256", ecJ), strings.TrimSuffix(claimsWith(t, map[string]any{"jti": nil}), "}")+`,"jti":null}`), wantCode: bad},
		{name: "IatString", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"iat": fmt.Sprint(t0.Unix())})), wantCode: bad},

		// Claims.
		{name: "NoJti", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"jti": nil})), wantCode: bad},
		{name: "EmptyJti", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"jti": ""})), wantCode: bad},
		{name: "JtiAtLimit", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"jti": strings.Repeat("j", dpop.MaxJTIBytes)})), wantCode: ok},
		{name: "JtiTooLong", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"jti": strings.Repeat("j", dpop.MaxJTIBytes+1)})), wantCode: bad},
		{name: "NoHtm", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"htm": nil})), wantCode: bad},
		{name: "HtmMismatch", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"htm": "GET"})), wantCode: bad},
		{name: "HtmCase", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"htm": "post"})), wantCode: bad},
		{name: "NoHtu", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"htu": nil})), wantCode: bad},
		{name: "HtuOtherPath", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"htu": "https://api.example.com/v1/other"})), wantCode: bad},
		{name: "HtuPathPrefix", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"htu": "https://api.example.com/v1"})), wantCode: bad},
		{name: "HtuOtherHost", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"htu": "https://evil.example.com/v1/resource"})), wantCode: bad},
		{name: "HtuOtherScheme", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"htu": "http://api.example.com/v1/resource"})), wantCode: bad},
		{name: "HtuOtherPort", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"htu": "https://api.example.com:8443/v1/resource"})), wantCode: bad},
		{name: "HtuUserinfo", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"htu": "https://api.example.com@evil.example/v1/resource"})), wantCode: bad},
		{name: "HtuRelative", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"htu": "/v1/resource"})), wantCode: bad},
		{name: "HtuQueryFragmentIgnored", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"htu": testURL + "?x=1#y"})), url: testURL + "?z=2", wantCode: ok},
		{name: "HtuDefaultPortAndCase", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"htu": "HTTPS://API.Example.COM:443/v1/resource"})), wantCode: ok},
		{name: "RequestDefaultPort", proof: goodSig, url: "https://api.example.com:443/v1/resource", wantCode: ok},
		{name: "HtuPercentAndDots", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"htu": "https://api.example.com/v1/x/../%72esource"})), wantCode: ok},
		{name: "NoIat", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"iat": nil})), wantCode: bad},
		{name: "IatAtMaxAge", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"iat": t0.Add(-dpop.DefaultMaxAge).Unix()})), wantCode: ok},
		{name: "IatTooOld", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"iat": t0.Add(-dpop.DefaultMaxAge - time.Second).Unix()})), wantCode: bad},
		{name: "IatAtLeeway", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"iat": t0.Add(dpop.DefaultLeeway).Unix()})), wantCode: ok},
		{name: "IatInFuture", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"iat": t0.Add(dpop.DefaultLeeway + time.Second).Unix()})), wantCode: bad},
		{name: "IatHuge", proof: es(hdr("ES256", ecJ), strings.Replace(valid, fmt.Sprint(t0.Unix()), "1e300", 1)), wantCode: bad},
		{name: "IatNegative", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"iat": -1})), wantCode: bad},
		{name: "AthOK", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"ath": ath("tok")})), accessToken: "tok", wantCode: ok},
		{name: "AthMissing", proof: goodSig, accessToken: "tok", wantCode: bad},
		{name: "AthWrong", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"ath": ath("other")})), accessToken: "tok", wantCode: bad},
		{name: "AthPadded", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"ath": ath("tok") + "="})), accessToken: "tok", wantCode: bad},

		// The header value.
		{name: "Empty", proof: "", wantCode: bad},
		{name: "TwoProofs", proof: goodSig + "," + goodSig, wantCode: bad},
		{name: "TwoProofsSpaced", proof: goodSig + ", " + goodSig, wantCode: bad},
		{name: "LeadingSpace", proof: " " + goodSig, wantCode: bad},
		{name: "FourSegments", proof: goodSig + ".x", wantCode: bad},
		{name: "TwoSegments", proof: parts[0] + "." + parts[1], wantCode: bad},
		{name: "Oversized", proof: es(hdr("ES256", ecJ), claimsWith(t, map[string]any{"pad": strings.Repeat("p", dpop.MaxProofBytes)})), wantCode: bad},
		{name: "PaddedSegment", proof: parts[0] + "=." + parts[1] + "." + parts[2], wantCode: bad},
	} {
		t.Run(tt.name, func(t *testing.T) {
			method, url := tt.method, tt.url
			if method == "" {
				method = "POST"
			}
			if url == "" {
				url = testURL
			}
			v := mustVerifier(t, newClock(t0), dpop.Options{})
			_, err := v.Verify(tt.proof, method, url, tt.accessToken)
			t.Logf("Verify: %v", err)
			if got := code(t, err); got != tt.wantCode {
				t.Errorf("got code %q (%v), want %q", got, err, tt.wantCode)
			}
		})
	}
}

// mustBytes returns k's private scalar.
func mustBytes(tb testing.TB, k *ecdsa.PrivateKey) []byte {
	tb.Helper()
	d, err := k.Bytes()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// jsonField returns the JSON text of member name's string value in the
// flat object obj.
func jsonField(obj, name string) string {
	_, rest, _ := strings.Cut(obj, `"`+name+`":`)
	end := strings.Index(rest[1:], `"`)
	return rest[:end+2]
}

func TestVerifyErrorMessages(t *testing.T) {
	clk := newClock(t0)
	v := mustVerifier(t, clk, dpop.Options{})
	p := mustProver(t, newEdKey(t), clk)
	for _, tt := range []struct {
		name, proof, method, wantMessage string
	}{
		{"Method", mustProof(t, p, "GET", testURL, "", ""), "POST", "the DPoP proof was made for another HTTP method"},
		{"TwoProofs", "a.b.c,d.e.f", "POST", "the DPoP header must hold exactly one proof"},
		{"Forged", "a.b.c", "POST", "the DPoP proof is invalid"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tt.proof, tt.method, testURL, "")
			if got := baton.ErrorMessage(err); got != tt.wantMessage {
				t.Errorf("message %q, want %q", got, tt.wantMessage)
			}
		})
	}
}

func TestReplay(t *testing.T) {
	ec := newECKey(t)
	header := hdr("ES256", ecJWK(t, ec))
	proofAt := func(jti string, iat time.Time) string {
		return sign(t, jwt.SigningMethodES256, ec, header, claimsWith(t, map[string]any{"jti": jti, "iat": iat.Unix()}))
	}

	t.Run("SameProof", func(t *testing.T) {
		clk := newClock(t0)
		v := mustVerifier(t, clk, dpop.Options{})
		proof := proofAt("jti-1", t0)
		if _, err := v.Verify(proof, "POST", testURL, ""); err != nil {
			t.Fatalf("first use: %v", err)
		}
		clk.Add(time.Second)
		if _, err := v.Verify(proof, "POST", testURL, ""); code(t, err) != baton.EInvalidDPoPProof {
			t.Errorf("replay: got %v, want %s", err, baton.EInvalidDPoPProof)
		}
		// A new signature over the same claims is the same proof.
		if _, err := v.Verify(proofAt("jti-1", t0), "POST", testURL, ""); code(t, err) != baton.EInvalidDPoPProof {
			t.Errorf("re-signed replay: got %v, want %s", err, baton.EInvalidDPoPProof)
		}
	})

	t.Run("SameJTIAfterWindow", func(t *testing.T) {
		clk := newClock(t0)
		v := mustVerifier(t, clk, dpop.Options{})
		if _, err := v.Verify(proofAt("jti-1", t0), "POST", testURL, ""); err != nil {
			t.Fatalf("first use: %v", err)
		}
		// Just inside the window a fresh proof reusing the jti is refused.
		clk.Add(dpop.DefaultMaxAge + dpop.DefaultLeeway)
		if _, err := v.Verify(proofAt("jti-1", clk.Now()), "POST", testURL, ""); code(t, err) != baton.EInvalidDPoPProof {
			t.Errorf("jti reused within the window: got %v, want %s", err, baton.EInvalidDPoPProof)
		}
		// Once no proof recorded then could pass the iat check, the jti
		// is forgotten.
		clk.Add(dpop.DefaultMaxAge + dpop.DefaultLeeway + time.Second)
		if _, err := v.Verify(proofAt("jti-1", clk.Now()), "POST", testURL, ""); err != nil {
			t.Errorf("jti reused after the window: %v", err)
		}
	})

	t.Run("SameJTIOtherKey", func(t *testing.T) {
		clk := newClock(t0)
		v := mustVerifier(t, clk, dpop.Options{})
		if _, err := v.Verify(proofAt("jti-1", t0), "POST", testURL, ""); err != nil {
			t.Fatal(err)
		}
		ed := newEdKey(t)
		other := sign(t, jwt.SigningMethodEdDSA, ed, hdr("EdDSA", edJWK(ed)), claimsWith(t, map[string]any{"jti": "jti-1"}))
		if _, err := v.Verify(other, "POST", testURL, ""); err != nil {
			t.Errorf("another key's proof with the same jti: %v", err)
		}
	})

	t.Run("RejectedProofNotRecorded", func(t *testing.T) {
		clk := newClock(t0)
		v := mustVerifier(t, clk, dpop.Options{})
		proof := proofAt("jti-1", t0)
		if _, err := v.Verify(proof, "GET", testURL, ""); err == nil {
			t.Fatal("wrong method accepted")
		}
		if _, err := v.Verify(proof, "POST", testURL, ""); err != nil {
			t.Errorf("after a rejection for another request: %v", err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		clk := newClock(t0)
		v := mustVerifier(t, clk, dpop.Options{})
		proof := proofAt("jti-1", t0)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				_, err := v.Verify(proof, "POST", testURL, "")
				switch code(t, err) {
				case "":
					wins.Add(1)
				case baton.EInvalidDPoPProof:
				default:
					t.Errorf("unexpected error %v", err)
				}
			})
		}
		wg.Wait()
		if got := wins.Load(); got != 1 {
			t.Errorf("%d concurrent uses succeeded, want 1", got)
		}
	})

	t.Run("CacheFull", func(t *testing.T) {
		clk := newClock(t0)
		v := mustVerifier(t, clk, dpop.Options{ReplayCacheSize: 2, ReplayCachePerClient: 2})
		for _, jti := range []string{"a", "b"} {
			if _, err := v.Verify(proofAt(jti, t0), "POST", testURL, ""); err != nil {
				t.Fatalf("%s: %v", jti, err)
			}
		}
		_, err := v.Verify(proofAt("c", t0), "POST", testURL, "")
		if got := code(t, err); got != baton.EUnavailable {
			t.Errorf("full cache: got %v, want %s", err, baton.EUnavailable)
		}
		// A replay is still a replay when the cache is full.
		_, err = v.Verify(proofAt("a", t0), "POST", testURL, "")
		if got := code(t, err); got != baton.EInvalidDPoPProof {
			t.Errorf("replay into a full cache: got %v, want %s", err, baton.EInvalidDPoPProof)
		}
		clk.Add(dpop.DefaultMaxAge + dpop.DefaultLeeway + time.Second)
		if _, err := v.Verify(proofAt("c", clk.Now()), "POST", testURL, ""); err != nil {
			t.Errorf("after the window: %v", err)
		}
	})

	t.Run("ManyEntriesExpire", func(t *testing.T) {
		// Drives the queue through compactions: every entry must be
		// forgotten in time, none early.
		clk := newClock(t0)
		v := mustVerifier(t, clk, dpop.Options{ReplayCacheSize: 100, ReplayCachePerClient: 100, MaxAge: 10 * time.Second, Leeway: time.Second})
		for round := range 20 {
			for i := range 50 {
				jti := fmt.Sprintf("r%d-%d", round%2, i)
				if _, err := v.Verify(proofAt(jti, clk.Now()), "POST", testURL, ""); err != nil {
					t.Fatalf("round %d, %s: %v", round, jti, err)
				}
			}
			clk.Add(6 * time.Second) // two rounds > window of 11 s
		}
	})
}

func TestNonce(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	const lifetime = 5 * time.Minute
	clk := newClock(t0.Truncate(lifetime).Add(time.Minute)) // a minute into a bucket
	p := mustProver(t, newECKey(t), clk)
	opts := dpop.Options{RequireNonce: true, NonceKey: key, NonceLifetime: lifetime}
	v := mustVerifier(t, clk, opts)
	other := mustVerifier(t, clk, opts) // another instance, same key
	strangerOpts := opts
	strangerOpts.NonceKey = []byte(strings.Repeat("x", 32))
	stranger := mustVerifier(t, clk, strangerOpts)

	nonce := v.Nonce()
	if nonce == "" || nonce != other.Nonce() {
		t.Fatalf("nonces %q and %q, want equal and not empty", nonce, other.Nonce())
	}
	if nonce == stranger.Nonce() {
		t.Fatal("verifiers with different keys hand out the same nonce")
	}
	if strings.ContainsAny(nonce, "\" \\") {
		t.Fatalf("nonce %q has characters outside NQCHAR", nonce)
	}
	verifyAt := func(v *dpop.Verifier, nonce string) error {
		t.Helper()
		_, err := v.Verify(mustProof(t, p, "POST", testURL, "", nonce), "POST", testURL, "")
		return err
	}

	if got := code(t, verifyAt(v, nonce)); got != "" {
		t.Errorf("current nonce: got %q", got)
	}
	if got := code(t, verifyAt(other, nonce)); got != "" {
		t.Errorf("current nonce at another instance: got %q", got)
	}
	for _, tt := range []struct {
		name, nonce string
	}{
		{"Missing", ""},
		{"Forged", "AAAAAAAAAAAAAAAAAAAAAA"},
		{"OtherKey", stranger.Nonce()},
		{"Prefix", nonce[:len(nonce)-1]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := code(t, verifyAt(v, tt.nonce)); got != baton.EUseDPoPNonce {
				t.Errorf("got %q, want %q", got, baton.EUseDPoPNonce)
			}
		})
	}

	t.Run("InvalidProofWithoutNonce", func(t *testing.T) {
		// use_dpop_nonce would make the client retry a proof that can
		// never pass.
		_, err := v.Verify(mustProof(t, p, "GET", testURL, "", ""), "POST", testURL, "")
		if got := code(t, err); got != baton.EInvalidDPoPProof {
			t.Errorf("got %q, want %q", got, baton.EInvalidDPoPProof)
		}
	})

	t.Run("Rotation", func(t *testing.T) {
		clk := newClock(clk.Now())
		p := mustProver(t, newECKey(t), clk)
		v := mustVerifier(t, clk, opts)
		old := v.Nonce()
		clk.Add(lifetime)
		if v.Nonce() == old {
			t.Fatal("nonce did not change after its lifetime")
		}
		if _, err := v.Verify(mustProof(t, p, "POST", testURL, "", old), "POST", testURL, ""); err != nil {
			t.Errorf("previous nonce: %v", err)
		}
		clk.Add(lifetime)
		_, err := v.Verify(mustProof(t, p, "POST", testURL, "", old), "POST", testURL, "")
		if got := code(t, err); got != baton.EUseDPoPNonce {
			t.Errorf("stale nonce: got %q (%v), want %q", got, err, baton.EUseDPoPNonce)
		}
	})

	t.Run("InstanceAhead", func(t *testing.T) {
		// An instance a little ahead hands out the next nonce early; the
		// others accept it within the leeway, not before.
		start := t0.Truncate(lifetime).Add(lifetime)
		behind := newClock(start.Add(-dpop.DefaultLeeway + time.Second))
		ahead := newClock(start.Add(time.Second))
		vb, va := mustVerifier(t, behind, opts), mustVerifier(t, ahead, opts)
		p := mustProver(t, newECKey(t), behind)
		if _, err := vb.Verify(mustProof(t, p, "POST", testURL, "", va.Nonce()), "POST", testURL, ""); err != nil {
			t.Errorf("next nonce within the leeway: %v", err)
		}
		behind.Add(-time.Minute)
		_, err := vb.Verify(mustProof(t, p, "POST", testURL, "", va.Nonce()), "POST", testURL, "")
		if got := code(t, err); got != baton.EUseDPoPNonce {
			t.Errorf("next nonce a minute early: got %q, want %q", got, baton.EUseDPoPNonce)
		}
	})

	t.Run("NotRequired", func(t *testing.T) {
		v := mustVerifier(t, clk, dpop.Options{})
		if v.Nonce() != "" {
			t.Errorf("Nonce without a key: %q, want empty", v.Nonce())
		}
		if err := verifyAt(v, "anything"); err != nil {
			t.Errorf("nonce ignored when not required: %v", err)
		}
	})
}

func TestNewVerifierErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts dpop.Options
	}{
		{"AlgNone", dpop.Options{Algorithms: []string{"none"}}},
		{"HS256", dpop.Options{Algorithms: []string{"ES256", "HS256"}}},
		{"RS256", dpop.Options{Algorithms: []string{"RS256"}}},
		{"NonceWithoutKey", dpop.Options{RequireNonce: true}},
		{"ShortNonceKey", dpop.Options{RequireNonce: true, NonceKey: make([]byte, 16)}},
		{"ShortNonceKeyNotRequired", dpop.Options{NonceKey: make([]byte, 31)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := dpop.NewVerifier(tt.opts); err == nil {
				t.Error("NewVerifier succeeded")
			}
		})
	}
}

func TestThumbprint(t *testing.T) {
	ec := newECKey(t)
	for _, tt := range []struct {
		name, jwk, want string
	}{
		// RFC 8037 §A.3.
		{"RFC8037", `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"},
		// RFC 9449 §4.1 Figure 3 key, §6.1 thumbprint; members out of
		// order and with whitespace, as a client may send them.
		{"RFC9449", `{"kty" : "EC", "x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
			"y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA", "crv":"P-256", "kid": "ignored"}`, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},
		{"Prover", ecJWK(t, ec), mustProver(t, ec, newClock(t0)).JKT()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dpop.Thumbprint([]byte(tt.jwk))
			if err != nil {
				t.Fatalf("Thumbprint: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}

	for _, tt := range []struct{ name, jwk string }{
		{"Private", `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}`},
		{"RSA", `{"kty":"RSA","e":"AQAB","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}`},
		{"Symmetric", `{"kty":"oct","k":"AAAA"}`},
		{"ShortX", `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR"}`},
		{"NonCanonicalX", `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURp"}`},
		{"OffCurve", `{"kty":"EC","crv":"P-256","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDB"}`},
		{"NoY", `{"kty":"EC","crv":"P-256","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs"}`},
		{"X448", `{"kty":"OKP","crv":"X448","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`},
		{"DuplicateX", `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`},
		{"FoldedCrv", `{"kty":"OKP","crv":"Ed25519","CRV":"X25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`},
		{"Trailing", `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"} {}`},
		{"NotObject", `"kty"`},
		{"Empty", ``},
	} {
		t.Run("Err"+tt.name, func(t *testing.T) {
			if got, err := dpop.Thumbprint([]byte(tt.jwk)); err == nil {
				t.Errorf("Thumbprint succeeded: %s", got)
			}
		})
	}
}

func TestProver(t *testing.T) {
	if _, err := dpop.NewProver("RS256"); err == nil {
		t.Error("NewProver(RS256) succeeded")
	}
	if _, err := dpop.NewProver("none"); err == nil {
		t.Error("NewProver(none) succeeded")
	}
	clk := newClock(t0)
	p, err := dpop.NewProver("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	p.Now = clk.Now
	proof := mustProof(t, p, "GET", testURL+"?q=1#f", "tok", "n0nce")
	parts := strings.Split(proof, ".")
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	c, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_, jwk, _ := strings.Cut(string(h), `"jwk":`)
	if got, err := dpop.Thumbprint([]byte(strings.TrimSuffix(jwk, "}"))); err != nil || got != p.JKT() {
		t.Errorf("thumbprint of the header's jwk %s: %v, %v; want %s", jwk, got, err, p.JKT())
	}
	sum := sha256.Sum256([]byte("tok"))
	want := fmt.Sprintf(`"htm":"GET","htu":%q,"iat":%d,"ath":%q,"nonce":"n0nce"}`, testURL, t0.Unix(), b64.EncodeToString(sum[:]))
	if !strings.HasSuffix(string(c), want) || !strings.HasPrefix(string(c), `{"jti":"`) {
		t.Errorf("claims %s, want {\"jti\":…,%s", c, want)
	}
	if p2 := mustProof(t, p, "GET", testURL, "", ""); strings.Split(p2, ".")[1] == parts[1] {
		t.Error("two proofs with the same claims")
	}
}

// FuzzVerify feeds Verify arbitrary header values and requests: it must
// never panic and fail only with the two DPoP codes.
func FuzzVerify(f *testing.F) {
	clk := newClock(t0)
	ec, ed := newECKey(f), newEdKey(f)
	pe, pd := mustProver(f, ec, clk), mustProver(f, ed, clk)
	f.Add(mustProof(f, pe, "POST", testURL, "", ""), "POST", testURL, "")
	f.Add(mustProof(f, pd, "GET", testURL, "tok", "nonce"), "GET", testURL+"?x", "tok")
	f.Add(sign(f, jwt.SigningMethodES256, ec, `{"typ":"dpop+jwt","alg":"ES256","jwk":`+ecJWK(f, ec)+`,"x":{"a":[1,2,{"b":null}]}}`, `{"jti":"\u0041\ud83d\ude00","htm":"POST","htu":"https://API.example.com:443/v1/./resource","iat":1.5e9,"o":[true,false,-0.5e-3]}`), "POST", testURL, "")
	f.Add("eyJhbGciOiJub25lIn0.e30.", "GET", "http://[::1]:80/%7e/..", "")
	f.Add("a.b.c,d.e.f", "POST", "https://x", "t")
	f.Add(strings.Repeat("A", 300)+".."+strings.Repeat("_", 10), "", "", "")
	v := mustVerifier(f, clk, dpop.Options{})
	vn := mustVerifier(f, clk, dpop.Options{RequireNonce: true, NonceKey: make([]byte, 32)})
	f.Fuzz(func(t *testing.T, proof, method, url, accessToken string) {
		for _, v := range []*dpop.Verifier{v, vn} {
			_, err := v.Verify(proof, method, url, accessToken)
			switch got := code(t, err); got {
			case "", baton.EInvalidDPoPProof, baton.EUseDPoPNonce:
			default:
				t.Fatalf("code %q: %v", got, err)
			}
		}
	})
}

func FuzzThumbprint(f *testing.F) {
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}`))
	f.Fuzz(func(t *testing.T, jwk []byte) {
		got, err := dpop.Thumbprint(jwk)
		if err == nil && len(got) != 43 {
			t.Fatalf("thumbprint %q is not 43 characters", got)
		}
	})
}

// BenchmarkThumbprint measures the strict JWK reading Verify does for
// every proof, plus the key check and hash.
func BenchmarkThumbprint(b *testing.B) {
	jwk := []byte(`{"kty":"EC","crv":"P-256","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","key_ops":["verify"],"ext":true}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dpop.Thumbprint(jwk); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify measures a full check of a fresh proof. Proofs are made
// in batches outside the timer; between batches the clock moves past the
// replay window, so the cache's expiry work is included.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			clk := newClock(t0)
			p, err := dpop.NewProver(alg)
			if err != nil {
				b.Fatal(err)
			}
			p.Now = clk.Now
			v := mustVerifier(b, clk, dpop.Options{})
			const token = "an-access-token-of-typical-length-0123456789abcdefghijklmnopqrstuvwxyz"
			batch := make([]string, 1024)
			fill := func() {
				b.StopTimer()
				clk.Add(2 * time.Minute)
				for i := range batch {
					batch[i] = mustProof(b, p, "GET", testURL, token, "")
				}
				b.StartTimer()
			}
			b.ReportAllocs()
			i := len(batch)
			for b.Loop() {
				if i == len(batch) {
					fill()
					i = 0
				}
				if _, err := v.Verify(batch[i], "GET", testURL, token); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkProof(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			p, err := dpop.NewProver(alg)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Proof("GET", testURL, "tok", ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyRaw is the floor under BenchmarkVerify: the signature
// check alone, with the key already parsed. On a loaded machine compare
// the ratio, not the absolute figures.
func BenchmarkVerifyRaw(b *testing.B) {
	ec, ed := newECKey(b), newEdKey(b)
	for _, tt := range []struct {
		method jwt.SigningMethod
		priv   any
		pub    any
	}{
		{jwt.SigningMethodES256, ec, &ec.PublicKey},
		{jwt.SigningMethodEdDSA, ed, ed.Public()},
	} {
		b.Run(tt.method.Alg(), func(b *testing.B) {
			input := strings.Repeat("x", 500)
			sig, err := tt.method.Sign(input, tt.priv)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := tt.method.Verify(input, sig, tt.pub); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
