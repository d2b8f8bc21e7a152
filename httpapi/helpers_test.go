package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/batonauth/baton/batontest"
)

const pw = "correct horse battery staple"

// client talks to a test server through a real HTTP client with a cookie
// jar.
type client struct {
	t   testing.TB
	srv *batontest.Server
	hc  *http.Client
}

func newClient(t testing.TB, srv *batontest.Server) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, srv: srv, hc: &http.Client{Jar: jar}}
}

type resp struct {
	*http.Response
	body map[string]any
	raw  []byte
}

func (r *resp) str(k string) string {
	s, _ := r.body[k].(string)
	return s
}

// do sends body as JSON (a string body is sent as is with contentType).
func (c *client) do(method, path string, body any, hdr ...string) *resp {
	c.t.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.srv.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := &resp{Response: res, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			c.t.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
		}
	}
	return r
}

// want checks status and, for errors, the error code.
func (r *resp) want(t testing.TB, status int, code string) *resp {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: got status %d (%s), want %d", r.Request.Method, r.Request.URL.Path, r.StatusCode, r.raw, status)
	}
	if code != "" {
		if got := r.str("error"); got != code {
			t.Fatalf("%s %s: got error %q (%s), want %q", r.Request.Method, r.Request.URL.Path, got, r.raw, code)
		}
		if r.str("error_description") == "" {
			t.Fatalf("error without error_description: %s", r.raw)
		}
	}
	return r
}

func (c *client) register(name string) *resp {
	c.t.Helper()
	return c.do("POST", "/v1/register", map[string]string{"username": name, "password": pw}).want(c.t, 201, "")
}

func (c *client) login(name string, extra ...string) *resp {
	c.t.Helper()
	body := map[string]string{"username": name, "password": pw}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i]] = extra[i+1]
	}
	return c.do("POST", "/v1/login", body).want(c.t, 200, "")
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func cookieNamed(res *http.Response, name string) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}
