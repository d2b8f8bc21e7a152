// Package jsonschema validates JSON values against the subset of JSON
// Schema (2020-12, as OpenAPI 3.1 uses it) that baton's OpenAPI document
// uses: $ref to a local definition, type (one or a list), properties,
// required, additionalProperties (boolean or schema), items, enum, oneOf,
// allOf, nullable (OpenAPI 3.0 style), pattern, minimum, maximum and
// format date-time. Keywords outside the subset are ignored, so a document
// that relies on one is not checked by it: keep the document inside.
package jsonschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Validator checks values against schemas that may refer, with $ref
// "#/a/b/c", into a root document.
type Validator struct {
	root any
}

// New returns a validator whose $refs resolve in the JSON document root.
func New(root []byte) (*Validator, error) {
	var v any
	if err := decode(root, &v); err != nil {
		return nil, fmt.Errorf("jsonschema: root document: %w", err)
	}
	return &Validator{root: v}, nil
}

func decode(b []byte, v *any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

// Resolve returns the value at a "#/…" reference.
func (v *Validator) Resolve(ref string) (any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("jsonschema: only local references are supported: %q", ref)
	}
	cur := v.root
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("jsonschema: %q does not resolve", ref)
		}
		if cur, ok = m[part]; !ok {
			return nil, fmt.Errorf("jsonschema: %q does not resolve", ref)
		}
	}
	return cur, nil
}

// ValidateJSON decodes doc and validates it against schema (a decoded
// schema object, e.g. from Resolve).
func (v *Validator) ValidateJSON(schema any, doc []byte) error {
	var val any
	if err := decode(doc, &val); err != nil {
		return fmt.Errorf("not valid JSON: %w", err)
	}
	return v.Validate(schema, val)
}

// Validate checks a decoded value (numbers as json.Number or float64)
// against schema. The error lists every violation with its JSON path.
func (v *Validator) Validate(schema, val any) error {
	var errs []string
	v.check(schema, val, "$", &errs, 0)
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func (v *Validator) check(schema, val any, path string, errs *[]string, depth int) {
	if depth > 64 {
		*errs = append(*errs, path+": schema nesting too deep (a $ref cycle?)")
		return
	}
	fail := func(format string, args ...any) {
		*errs = append(*errs, path+": "+fmt.Sprintf(format, args...))
	}
	switch s := schema.(type) {
	case bool:
		if !s {
			fail("no value is allowed here")
		}
		return
	case map[string]any:
		schema = s
	default:
		fail("schema is not an object")
		return
	}
	s := schema.(map[string]any)
	if ref, ok := s["$ref"].(string); ok {
		target, err := v.Resolve(ref)
		if err != nil {
			fail("%v", err)
			return
		}
		v.check(target, val, path, errs, depth+1)
	}
	if val == nil {
		if n, _ := s["nullable"].(bool); n {
			return
		}
	}
	if t, ok := s["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				if str, ok := x.(string); ok {
					types = append(types, str)
				}
			}
		}
		if n, _ := s["nullable"].(bool); n {
			types = append(types, "null")
		}
		if !slices.ContainsFunc(types, func(t string) bool { return hasType(val, t) }) {
			fail("got %s, want %s", typeName(val), strings.Join(types, " or "))
			return
		}
	}
	if enum, ok := s["enum"].([]any); ok {
		if !slices.ContainsFunc(enum, func(e any) bool { return equal(e, val) }) {
			fail("%s is not one of %s", show(val), show(enum))
		}
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			v.check(sub, val, path, errs, depth+1)
		}
	}
	if one, ok := s["oneOf"].([]any); ok {
		matched := 0
		var why []string
		for i, sub := range one {
			var e []string
			v.check(sub, val, path, &e, depth+1)
			if len(e) == 0 {
				matched++
			} else {
				why = append(why, fmt.Sprintf("[%d] %s", i, strings.Join(e, ", ")))
			}
		}
		if matched != 1 {
			fail("matches %d of the oneOf schemas, want exactly 1 (%s)", matched, strings.Join(why, " | "))
		}
	}
	switch x := val.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if name, _ := r.(string); name != "" {
					if _, ok := x[name]; !ok {
						fail("required property %q is missing", name)
					}
				}
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k]; ok {
				v.check(ps, x[k], path+"."+k, errs, depth+1)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					fail("property %q is not allowed", k)
				}
			case map[string]any:
				v.check(ap, x[k], path+"."+k, errs, depth+1)
			}
		}
	case []any:
		if items, ok := s["items"]; ok {
			for i, e := range x {
				v.check(items, e, fmt.Sprintf("%s[%d]", path, i), errs, depth+1)
			}
		}
	case string:
		if p, ok := s["pattern"].(string); ok {
			re, err := regexp.Compile(p)
			if err != nil {
				fail("bad pattern %q: %v", p, err)
			} else if !re.MatchString(x) {
				fail("%q does not match %q", x, p)
			}
		}
		if f, _ := s["format"].(string); f == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, x); err != nil {
				fail("%q is not an RFC 3339 date-time", x)
			}
		}
	case json.Number, float64:
		f := toFloat(x)
		if m, ok := s["minimum"]; ok && f < toFloat(m) {
			fail("%v is below the minimum %v", f, m)
		}
		if m, ok := s["maximum"]; ok && f > toFloat(m) {
			fail("%v is above the maximum %v", f, m)
		}
	}
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case json.Number:
		f, _ := n.Float64()
		return f
	case float64:
		return n
	case int:
		return float64(n)
	}
	return math.NaN()
}

func hasType(v any, t string) bool {
	switch t {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "number":
		_, ok1 := v.(json.Number)
		_, ok2 := v.(float64)
		return ok1 || ok2
	case "integer":
		switch n := v.(type) {
		case json.Number:
			if _, err := n.Int64(); err == nil {
				return true
			}
			f, err := n.Float64()
			return err == nil && f == math.Trunc(f) && !strings.ContainsAny(string(n), ".eE")
		case float64:
			return n == math.Trunc(n)
		}
	}
	return false
}

func typeName(v any) string {
	for _, t := range []string{"null", "boolean", "string", "object", "array", "integer", "number"} {
		if hasType(v, t) {
			return t
		}
	}
	return fmt.Sprintf("%T", v)
}

func equal(a, b any) bool {
	if fa, fb := toFloat(a), toFloat(b); !math.IsNaN(fa) || !math.IsNaN(fb) {
		return fa == fb
	}
	return reflect.DeepEqual(a, b)
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
