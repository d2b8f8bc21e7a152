package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func decodePart(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func decodeClaims(t *testing.T, tok string) map[string]any { return decodePart(t, tok, 1) }
func decodeHeader(t *testing.T, tok string) map[string]any { return decodePart(t, tok, 0) }
