package jsonschema

import (
	"strings"
	"testing"
)

const root = `{"defs": {
  "Error": {"type": "object", "required": ["error", "error_description"], "additionalProperties": false,
    "properties": {"error": {"type": "string", "enum": ["invalid_request", "not_found"]},
      "error_description": {"type": "string"}}},
  "Token": {"type": "object", "required": ["token_type", "expires_in"], "additionalProperties": false,
    "properties": {"token_type": {"type": "string", "enum": ["Bearer"]}, "expires_in": {"type": "integer", "minimum": 0},
      "refresh_token": {"type": "string", "pattern": "^brt_"}, "at": {"type": "string", "format": "date-time"},
      "note": {"type": "string", "nullable": true}, "extra": {"type": ["string", "null"]}}},
  "List": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/defs/Token"}}},
    "additionalProperties": {"type": "integer"}},
  "Either": {"oneOf": [
    {"type": "object", "required": ["active"], "additionalProperties": false, "properties": {"active": {"enum": [false]}}},
    {"type": "object", "required": ["active", "sub"], "properties": {"active": {"enum": [true]}, "sub": {"type": "string"}}}]}
}}`

func TestValidate(t *testing.T) {
	v, err := New([]byte(root))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, ref, doc string
		wantErr        string // "" for valid
	}{
		{"ErrorOK", "Error", `{"error":"not_found","error_description":"x"}`, ""},
		{"ErrorUnknownCode", "Error", `{"error":"nope","error_description":"x"}`, "not one of"},
		{"ErrorMissingField", "Error", `{"error":"not_found"}`, `required property "error_description"`},
		{"ErrorExtraField", "Error", `{"error":"not_found","error_description":"x","stack":"…"}`, `"stack" is not allowed`},
		{"ErrorWrongType", "Error", `{"error":1,"error_description":"x"}`, "got integer, want string"},
		{"ErrorNotObject", "Error", `[]`, "got array, want object"},
		{"TokenOK", "Token", `{"token_type":"Bearer","expires_in":300,"refresh_token":"brt_x","at":"2030-01-02T03:04:05.123Z","note":null,"extra":null}`, ""},
		{"TokenFloat", "Token", `{"token_type":"Bearer","expires_in":1.5}`, "want integer"},
		{"TokenNegative", "Token", `{"token_type":"Bearer","expires_in":-1}`, "below the minimum"},
		{"TokenPattern", "Token", `{"token_type":"Bearer","expires_in":1,"refresh_token":"xyz"}`, "does not match"},
		{"TokenDate", "Token", `{"token_type":"Bearer","expires_in":1,"at":"yesterday"}`, "not an RFC 3339"},
		{"TokenNullNotAllowed", "Token", `{"token_type":null,"expires_in":1}`, "got null"},
		{"ListOK", "List", `{"items":[{"token_type":"Bearer","expires_in":1}],"count":2}`, ""},
		{"ListBadItem", "List", `{"items":[{"token_type":"Bearer"}]}`, `$.items[0]: required property "expires_in"`},
		{"ListBadAdditional", "List", `{"count":"two"}`, "$.count: got string"},
		{"OneOfInactive", "Either", `{"active":false}`, ""},
		{"OneOfActive", "Either", `{"active":true,"sub":"u"}`, ""},
		{"OneOfInactiveWithMore", "Either", `{"active":false,"sub":"u"}`, "matches 0 of the oneOf"},
		{"OneOfActiveMissing", "Either", `{"active":true}`, "matches 0 of the oneOf"},
		{"Trailing", "Error", `{"error":"not_found","error_description":"x"} {}`, "not valid JSON"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := v.Resolve("#/defs/" + tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			err = v.ValidateJSON(s, []byte(tt.doc))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v, want valid", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("got valid, want an error with %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	v, _ := New([]byte(root))
	if _, err := v.Resolve("#/defs/Nope"); err == nil {
		t.Fatal("a missing definition resolved")
	}
	if _, err := v.Resolve("http://example.com/x"); err == nil {
		t.Fatal("a remote reference resolved")
	}
	s := map[string]any{"$ref": "#/defs/Missing"}
	if err := v.Validate(s, map[string]any{}); err == nil {
		t.Fatal("a broken $ref validated")
	}
}
