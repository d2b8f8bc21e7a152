package token

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/batonauth/baton/internal/strictjson"
	"github.com/google/go-cmp/cmp"
)

// TestDecodeClaims covers how the claims use the scanner; the scanner's
// own cases (escapes, numbers, nesting) are in internal/strictjson.
func TestDecodeClaims(t *testing.T) {
	for _, tt := range []struct {
		name    string
		json    string
		want    wireClaims // compared on the decoded fields only
		wantAMR []string   // what methods returns
		wantErr bool
	}{
		{name: "OK", json: `{"iss":"i","sub":"s","aud":"a","exp":2,"nbf":1,"iat":1,"auth_time":0,"jti":"j","sid":"d","client_id":"c","scope":"openid email","fresh":true,"cnf":{"jkt":"k"},"amr":["pwd"]}`,
			want: wireClaims{out: Claims{Issuer: "i", Subject: "s", ID: "j", SessionID: "d", ClientID: "c", Scope: "openid email", JKT: "k"}, aud: "a", exp: 2, nbf: 1, iat: 1, fresh: true,
				seen: seenIss | seenSub | seenAud | seenExp | seenNbf | seenIat | seenAuthTime | seenJti | seenSid | seenClientID | seenScope | seenFresh | seenCnf | seenAMR},
			wantAMR: []string{"pwd"}},
		{name: "AMR", json: `{"amr":["pwd","otp","hwk","mfa"]}`, want: wireClaims{seen: seenAMR}, wantAMR: []string{"pwd", "otp", "hwk", "mfa"}},
		// Other issuers' names (RFC 8176 §2), in any order, are read as sent.
		{name: "AMRAsSent", json: `{"amr":["mfa","sms","p\u0077d","pwd","pwd"]}`, want: wireClaims{seen: seenAMR}, wantAMR: []string{"mfa", "sms", "pwd", "pwd", "pwd"}},
		{name: "AMRMax", json: `{"amr":[` + strings.Repeat(`"a",`, strictjson.MaxNames-1) + `"b"]}`, want: wireClaims{seen: seenAMR},
			wantAMR: append(slices.Repeat([]string{"a"}, strictjson.MaxNames-1), "b")},
		{name: "Whitespace", json: " \t\r\n{ \"sub\" : \"s\" ,\n\"fresh\":false } \n", want: wireClaims{out: Claims{Subject: "s"}, seen: seenSub | seenFresh}},
		{name: "Empty", json: `{}`},
		{name: "Escapes", json: `{"sub":"\"\\\/\b\f\n\r\t\u00e9\ud83d\udd11\u0000"}`, want: wireClaims{out: Claims{Subject: "\"\\/\b\f\n\r\t\u00e9\U0001F511\x00"}, seen: seenSub}},
		{name: "EscapedName", json: `{"s\u0075b":"s"}`, want: wireClaims{out: Claims{Subject: "s"}, seen: seenSub}},
		{name: "AudArray", json: `{"aud":["a","b"]}`, want: wireClaims{auds: []string{"a", "b"}, seen: seenAud}},
		{name: "FractionalDate", json: `{"exp":1.9e3}`, want: wireClaims{exp: 1900, seen: seenExp}},
		{name: "UnknownNested", json: `{"x":{"y":[1,-2.5e-3,true,false,null,{"z":"w"}]},"sub":"s"}`, want: wireClaims{out: Claims{Subject: "s"}, seen: seenSub}},
		{name: "ErrTrailingComma", json: `{"sub":"s",}`, wantErr: true},
		{name: "ErrTrailingData", json: `{"sub":"s"}{}`, wantErr: true},
		{name: "ErrLoneHighSurrogate", json: `{"sub":"\ud83d"}`, wantErr: true},
		{name: "ErrInvalidUTF8", json: "{\"sub\":\"\xc3\x28\"}", wantErr: true},
		{name: "ErrNegativeDate", json: `{"exp":-1}`, wantErr: true},
		{name: "ErrDateYear10000", json: `{"exp":253402300800}`, wantErr: true},
		{name: "ErrNullString", json: `{"sub":null}`, wantErr: true},
		{name: "ErrNullAud", json: `{"aud":null}`, wantErr: true},
		{name: "ErrAudArrayTooLong", json: `{"aud":[` + strings.Repeat(`"a",`, strictjson.MaxNames) + `"a"]}`, wantErr: true},
		{name: "ErrAudArrayNumber", json: `{"aud":["a",1]}`, wantErr: true},
		{name: "ErrNullAMR", json: `{"amr":null}`, wantErr: true},
		{name: "ErrAMREmpty", json: `{"amr":[]}`, wantErr: true},
		{name: "ErrAMRString", json: `{"amr":"pwd"}`, wantErr: true},
		{name: "ErrAMRNullElement", json: `{"amr":["pwd",null]}`, wantErr: true},
		{name: "ErrAMRNumber", json: `{"amr":["pwd",1]}`, wantErr: true},
		{name: "ErrAMRNested", json: `{"amr":[["pwd"]]}`, wantErr: true},
		{name: "ErrAMRTooLong", json: `{"amr":[` + strings.Repeat(`"pwd",`, strictjson.MaxNames) + `"pwd"]}`, wantErr: true},
		{name: "ErrAMRTwice", json: `{"amr":["pwd"],"amr":["pwd","otp","mfa"]}`, wantErr: true},
		{name: "ErrAMRFolded", json: `{"AMR":["pwd","otp","mfa"]}`, wantErr: true},
		{name: "ErrAMRInvalidUTF8", json: "{\"amr\":[\"\xc3\x28\"]}", wantErr: true},
		{name: "ErrFreshTrueish", json: `{"fresh":tru}`, wantErr: true},
		{name: "ErrCnfJKTTwice", json: `{"cnf":{"jkt":"a","jkt":"b"}}`, wantErr: true},
		{name: "ErrCnfFolded", json: `{"cnf":{"JKT":"a"}}`, wantErr: true},
		{name: "ErrCnfNotObject", json: `{"cnf":"a"}`, wantErr: true},
		{name: "ErrDuplicateKnown", json: `{"sid":"a","sid":"a"}`, wantErr: true},
		{name: "ErrFoldedLongS", json: `{"ſid":"d"}`, wantErr: true},
		{name: "ErrDuplicateUnknown", json: `{"x":1,"X":2}`, wantErr: true},
		{name: "ErrDuplicateNested", json: `{"x":{"a":1,"A":2}}`, wantErr: true},
		{name: "ErrFoldedClientID", json: `{"Client_ID":"c"}`, wantErr: true},
		{name: "ErrFoldedScope", json: `{"Scope":"openid"}`, wantErr: true},
		{name: "ErrDuplicateScope", json: `{"scope":"openid","scope":"openid email"}`, wantErr: true},
		{name: "ErrScopeArray", json: `{"scope":["openid"]}`, wantErr: true},
		{name: "ErrNullScope", json: `{"scope":null}`, wantErr: true},
		{name: "ErrNotObject", json: `"sub"`, wantErr: true},
		{name: "ErrEmpty", json: ``, wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got wireClaims
			err := got.UnmarshalJSON([]byte(tt.json))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(wireClaims{}),
				cmp.FilterPath(func(p cmp.Path) bool {
					switch p.Last().String() {
					case ".expDate", ".iatDate", ".nbfDate", ".audOne", ".amrN", ".amrBuf", ".AMR":
						return true
					}
					return false
				}, cmp.Ignore())); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantAMR, got.methods()); diff != "" {
				t.Errorf("amr (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("TooManyMembers", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("{")
		for i := range strictjson.MaxNames + 1 {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`"x` + strconv.Itoa(i) + `":1`)
		}
		b.WriteString("}")
		var c wireClaims
		if err := c.UnmarshalJSON([]byte(b.String())); err == nil {
			t.Errorf("%d unknown members accepted", strictjson.MaxNames+1)
		}
	})
}

// FuzzDecodeClaims checks the strict decoder against encoding/json: it
// never panics, accepts only valid JSON, and whatever it accepts it reads
// as encoding/json does.
func FuzzDecodeClaims(f *testing.F) {
	f.Add([]byte(`{"iss":"i","sub":"s","aud":"a","exp":2,"nbf":1,"iat":1,"auth_time":0,"jti":"j","sid":"d","client_id":"c","scope":"openid","fresh":true,"cnf":{"jkt":"k"}}`))
	f.Add([]byte(`{"sub":"\"\\\/\b\f\n\r\t\u00e9\ud83d\udd11","aud":["a","b"],"exp":1.5e9}`))
	f.Add([]byte(`{"x":{"y":[1,-2.5e-3,true,false,null,{"z":"w"}]},"s\u0075b":"s"}`))
	f.Add([]byte(`{"sub":"a","SUB":"b"}`))
	f.Add([]byte(`{"exp":1e400}`))
	f.Add([]byte(`{"amr":["pwd","otp","mfa"],"sub":"s"}`))
	f.Add([]byte(`{"amr":["a","b","c","d","e","\u0070wd"]}`))
	f.Add([]byte(`{"amr":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c wireClaims
		if err := c.UnmarshalJSON(data); err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		for name, got := range map[string]string{"iss": c.out.Issuer, "sub": c.out.Subject, "jti": c.out.ID, "sid": c.out.SessionID, "client_id": c.out.ClientID, "scope": c.out.Scope} {
			if v, ok := m[name]; ok && v != got {
				t.Errorf("%s: %q, encoding/json %q", name, got, v)
			}
		}
		if v, ok := m["amr"]; ok {
			var want []string
			if a, ok := v.([]any); ok {
				for _, e := range a {
					s, _ := e.(string)
					want = append(want, s)
				}
			}
			if !slices.Equal(want, c.methods()) {
				t.Errorf("amr: %q, encoding/json %v", c.methods(), v)
			}
		}
		if v, ok := m["fresh"]; ok && v != c.fresh {
			t.Errorf("fresh: %v, encoding/json %v", c.fresh, v)
		}
		for name, got := range map[string]int64{"exp": c.exp, "iat": c.iat, "nbf": c.nbf, "auth_time": c.authTime} {
			if v, ok := m[name]; ok {
				f, err := v.(json.Number).Float64()
				if err != nil || int64(f) != got {
					t.Errorf("%s: %d, encoding/json %v", name, got, v)
				}
			}
		}
	})
}

// TestCheckHeaderNoAllocs guards the hot path: checkHeader decodes into
// buffers on its stack, which any leak of a scanned name (into an error,
// an interface or a struct) would move to the heap.
func TestCheckHeaderNoAllocs(t *testing.T) {
	raw := strictBase64.EncodeToString([]byte(`{"alg":"EdDSA","kid":"k1","typ":"at+jwt","x":{"a":[1,true,null]}}`)) + ".e30.sig"
	if n := testing.AllocsPerRun(100, func() {
		if err := checkHeader(raw); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("got %v allocations, want 0", n)
	}
}

// TestDecodeAMRNoAllocs guards what keeps amr cheap: baton's names are
// not copied, and the buffer they go to does not move the claims to the
// heap.
func TestDecodeAMRNoAllocs(t *testing.T) {
	payload := []byte(`{"amr":["pwd","otp","hwk","mfa"]}`)
	if n := testing.AllocsPerRun(100, func() {
		var c wireClaims
		if err := c.UnmarshalJSON(payload); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("got %v allocations, want 0", n)
	}
}

func FuzzCheckHeader(f *testing.F) {
	f.Add(`{"alg":"EdDSA","kid":"k","typ":"at+jwt"}`)
	f.Add(`{"alg":"EdDSA","kid":"k","KID":"j"}`)
	f.Add(`{"crit":["b64"],"b64":false}`)
	f.Fuzz(func(t *testing.T, header string) {
		raw := strictBase64.EncodeToString([]byte(header)) + ".e30.sig"
		if checkHeader(raw) == nil && !json.Valid([]byte(header)) {
			t.Fatalf("accepted invalid JSON %q", header)
		}
	})
}

// BenchmarkDecodeClaims and BenchmarkCheckHeader measure the strict
// decoding Verify does besides golang-jwt's work and the signature check.
func BenchmarkDecodeClaims(b *testing.B) {
	payload := []byte(`{"iss":"https://auth.example.com","sub":"user-1","aud":"https://api.example.com","exp":1893553745,"nbf":1893553445,"iat":1893553445,"auth_time":1893553385,"jti":"jti-1","sid":"sess-1","client_id":"cli","fresh":true,"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},"x":{"y":[1,true]}}`)
	b.ReportAllocs()
	for b.Loop() {
		c := wireClaims{wantIss: "https://auth.example.com", wantAud: "https://api.example.com"}
		if err := c.UnmarshalJSON(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeClaimsAMR is BenchmarkDecodeClaims with amr, which costs
// no allocation for baton's own method names.
func BenchmarkDecodeClaimsAMR(b *testing.B) {
	payload := []byte(`{"iss":"https://auth.example.com","sub":"user-1","aud":"https://api.example.com","exp":1893553745,"nbf":1893553445,"iat":1893553445,"auth_time":1893553385,"amr":["pwd","otp","mfa"],"jti":"jti-1","sid":"sess-1","client_id":"cli","fresh":true,"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},"x":{"y":[1,true]}}`)
	b.ReportAllocs()
	for b.Loop() {
		c := wireClaims{wantIss: "https://auth.example.com", wantAud: "https://api.example.com"}
		if err := c.UnmarshalJSON(payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckHeader(b *testing.B) {
	raw := strictBase64.EncodeToString([]byte(`{"alg":"EdDSA","kid":"k1","typ":"at+jwt"}`)) + ".e30.sig"
	b.ReportAllocs()
	for b.Loop() {
		if err := checkHeader(raw); err != nil {
			b.Fatal(err)
		}
	}
}
