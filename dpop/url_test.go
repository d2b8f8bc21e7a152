package dpop

import (
	"strconv"
	"testing"
	"time"
)

func TestNormalizeURL(t *testing.T) {
	for _, tt := range []struct {
		in, want string
	}{
		{"https://api.example.com/v1/resource", "https://api.example.com/v1/resource"},
		{"HTTPS://API.Example.COM/v1/Resource", "https://api.example.com/v1/Resource"}, // path case matters
		{"https://api.example.com:443/x", "https://api.example.com/x"},
		{"http://api.example.com:80/x", "http://api.example.com/x"},
		{"https://api.example.com:80/x", "https://api.example.com:80/x"},
		{"http://api.example.com:443/x", "http://api.example.com:443/x"},
		{"https://api.example.com:0443/x", "https://api.example.com/x"},
		{"https://api.example.com:/x", "https://api.example.com/x"},
		{"https://api.example.com", "https://api.example.com/"},
		{"https://api.example.com?q#f", "https://api.example.com/"},
		{"https://api.example.com/x?q=%zz#f%", "https://api.example.com/x"},
		{"https://api.example.com/x#f?q", "https://api.example.com/x"},
		{"https://api.example.com/%7euser/%2f/%c3%a9", "https://api.example.com/~user/%2F/%C3%A9"},
		{"https://api.example.com/a/./b/../c", "https://api.example.com/a/c"},
		{"https://api.example.com/a/%2E%2E/c", "https://api.example.com/c"},
		{"https://api.example.com/../../c", "https://api.example.com/c"},
		{"https://api.example.com/a/b/..", "https://api.example.com/a/"},
		{"https://api.example.com/a//b", "https://api.example.com/a//b"},
		{"https://api.example.com/a.b/..c", "https://api.example.com/a.b/..c"},
		{"https://[::1]:443/x", "https://[::1]/x"},
		{"https://[::1]:8443/x", "https://[::1]:8443/x"},
		{"https://[::1]/x", "https://[::1]/x"},
		{"https://[FE80::1]/x", "https://[fe80::1]/x"},
		{"https://[0:0::1]/x", "https://[::1]/x"},
		{"https://api_1.example.com/x", "https://api_1.example.com/x"},
		{"https://127.0.0.1:8080/x", "https://127.0.0.1:8080/x"},
		{"https://api.example.com/a b", "https://api.example.com/a%20b"},
	} {
		got, err := normalizeURL(tt.in)
		if err != nil {
			t.Errorf("normalizeURL(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("normalizeURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, in := range []string{
		"", "/x", "api.example.com/x", "ftp://api.example.com/x", "https:///x", "https:x",
		"https://user@api.example.com/x", "https://api.example.com:99999/x", "https://api.example.com:x/",
		"https://api.example.com/%zz", "https://:443/x", "javascript:alert(1)", "http://%25/",
		"https://%61pi.example.com/x", "https://ex%C3%A4mple.com/", "https://exämple.com/", "https://[fe80::1%25en0]/",
		"https://1.2.3.4:8080:9/",
	} {
		if got, err := normalizeURL(in); err == nil {
			t.Errorf("normalizeURL(%q) = %q, want an error", in, got)
		}
	}
}

// FuzzNormalizeURL checks that normalising is idempotent: a normalised URL
// is its own normal form, so comparing normal forms is an equivalence.
func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{
		"https://API.example.com:443/a/./b/../%7e%2f?q#f", "http://[::1]:80/..", "https://h/%2e%2E/x",
		"https://h:0080/a/b/../../../c", "http://h/a%2520b", "https://h/./",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		once, err := normalizeURL(in)
		if err != nil {
			return
		}
		twice, err := normalizeURL(once)
		if err != nil {
			t.Fatalf("normalizeURL(%q) = %q, which fails: %v", in, once, err)
		}
		if once != twice {
			t.Fatalf("normalizeURL(%q) = %q, normalised again %q", in, once, twice)
		}
	})
}

// TestReplayCacheBounded checks that the queue's backing array stays
// within twice the live entries however long the cache runs.
func TestReplayCacheBounded(t *testing.T) {
	c := newReplayCache(1000, 1000, time.Second)
	now := time.Unix(1e9, 0)
	for i := range 100_000 {
		if err := c.add(replayKey("k", strconv.Itoa(i)), "", now); err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
		now = now.Add(5 * time.Millisecond) // about 200 live entries
	}
	if n := len(c.seen); n > 202 {
		t.Errorf("%d live entries, want about 200", n)
	}
	if cap(c.queue) > 2*1000 {
		t.Errorf("queue capacity %d, want at most %d", cap(c.queue), 2*1000)
	}
}
