package baton_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/batonauth/baton/config"
)

// The repository's documentation must stand on its own: a clone has
// nothing outside it, so every relative link in a Markdown file has to
// name a file (and, for a #fragment into Markdown, a heading) inside the
// repository. This test is the check; it needs no network.

// outside is the directory beside the repository that documentation once
// pointed to; it is spelt in two parts so that searching the repository
// for it finds no match here.
const outside = ".." + "/shared"

var (
	// inlineLink matches [text](target) and [text](target "title").
	inlineLink = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	// refLink matches a reference definition: [name]: target
	refLink = regexp.MustCompile(`(?m)^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$`)
	// codeSpan is inline code, which may contain bracket-and-paren text
	// that is not a link.
	codeSpan = regexp.MustCompile("`[^`\n]*`")
	// scheme marks an absolute URL (https:, mailto:, …), not checked here.
	scheme  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	heading = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
)

func TestMarkdownLinks(t *testing.T) {
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	files := markdownFiles(t, root)
	for _, must := range []string{"README.md", "CHANGELOG.md", "docs/api.md", "docs/design.md", "docs/configuration.md", "docs/operations.md"} {
		if _, ok := files[must]; !ok {
			t.Errorf("%s is missing", must)
		}
	}
	anchors := map[string]map[string]bool{} // file → its heading anchors, read lazily
	for rel, text := range files {
		if strings.Contains(text, outside) {
			t.Errorf("%s refers to %s, which a clone of the repository does not have", rel, outside)
		}
		for _, target := range links(text) {
			if scheme.MatchString(target) {
				continue
			}
			path, frag, _ := strings.Cut(target, "#")
			dest := filepath.Join(root, filepath.Dir(rel), filepath.FromSlash(path))
			if path == "" {
				dest = filepath.Join(root, rel)
			}
			in, err := filepath.Rel(root, dest)
			if err != nil || in == ".." || strings.HasPrefix(in, ".."+string(filepath.Separator)) {
				t.Errorf("%s: link %q leaves the repository", rel, target)
				continue
			}
			if _, err := os.Stat(dest); err != nil {
				t.Errorf("%s: link %q names no file in the repository", rel, target)
				continue
			}
			if frag == "" || !strings.HasSuffix(dest, ".md") {
				continue
			}
			destRel := filepath.ToSlash(in)
			if anchors[destRel] == nil {
				b, err := os.ReadFile(dest)
				if err != nil {
					t.Fatal(err)
				}
				anchors[destRel] = headingAnchors(string(b))
			}
			if !anchors[destRel][frag] {
				t.Errorf("%s: link %q: %s has no heading with anchor #%s", rel, target, destRel, frag)
			}
		}
	}
}

// markdownFiles reads every Markdown file of the repository, keyed by its
// slash-separated path, skipping dependencies and generated output.
func markdownFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata" || name == "test-artifacts" || name == "dist") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".md") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// links returns the link targets of a Markdown text, outside fenced code
// blocks and code spans.
func links(text string) []string {
	var out []string
	for _, block := range prose(text) {
		block = codeSpan.ReplaceAllString(block, "")
		for _, m := range inlineLink.FindAllStringSubmatch(block, -1) {
			out = append(out, m[1])
		}
		for _, m := range refLink.FindAllStringSubmatch(block, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// prose splits text into the runs of lines outside fenced code blocks.
func prose(text string) []string {
	var out []string
	var cur strings.Builder
	fence := ""
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case fence == "" && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")):
			fence = trimmed[:3]
			out = append(out, cur.String())
			cur.Reset()
		case fence != "" && strings.HasPrefix(trimmed, fence):
			fence = ""
		case fence == "":
			cur.WriteString(line)
			cur.WriteByte('\n')
		}
	}
	return append(out, cur.String())
}

// headingAnchors returns the anchors GitHub gives the headings of a
// Markdown text.
func headingAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, block := range prose(text) {
		for _, line := range strings.Split(block, "\n") {
			m := heading.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			a := anchor(m[1])
			if n := seen[a]; n > 0 {
				anchors[a+"-"+itoa(n)] = true
			} else {
				anchors[a] = true
			}
			seen[a]++
		}
	}
	return anchors
}

// anchor is GitHub's slug of a heading: lower case, spaces to hyphens,
// every other character that is not a letter, digit, hyphen or underscore
// dropped (so `code` loses its backticks and "2.0" becomes "20").
func anchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// TestConfigurationDocumented keeps docs/configuration.md in step with the
// variables the server reads.
func TestConfigurationDocumented(t *testing.T) {
	b, err := os.ReadFile("docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range config.Vars {
		if !strings.Contains(string(b), "| `"+v+"`") && !strings.Contains(string(b), ", `"+v+"` |") {
			t.Errorf("docs/configuration.md has no row for %s", v)
		}
	}
}

func TestAnchor(t *testing.T) {
	for _, tc := range []struct{ heading, want string }{
		{"Conventions", "conventions"},
		{"Sessions, rotation and reuse detection", "sessions-rotation-and-reuse-detection"},
		{"Protected endpoints: 401 and friends", "protected-endpoints-401-and-friends"},
		{"OAuth 2.0 endpoints", "oauth-20-endpoints"},
		{"`POST /oauth/token` (RFC 6749)", "post-oauthtoken-rfc-6749"},
		{"DPoP: sender-constrained tokens", "dpop-sender-constrained-tokens"},
		{"Die Überschrift", "die-überschrift"},
	} {
		if got := anchor(tc.heading); got != tc.want {
			t.Errorf("anchor(%q) = %q, want %q", tc.heading, got, tc.want)
		}
	}
}

func TestLinks(t *testing.T) {
	text := "See [a](docs/a.md#x) and `[not](a-link)`.\n" +
		"```\n[inside](a-fence)\n```\n" +
		"[ref]: docs/ref.md \"Title\"\n" +
		"[web](https://example.com)\n"
	got := strings.Join(links(text), " ")
	if want := "docs/a.md#x https://example.com docs/ref.md"; got != want {
		t.Errorf("links = %q, want %q", got, want)
	}
}
