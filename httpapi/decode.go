package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strings"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/internal/strictjson"
)

// MaxBodyBytes bounds every request body (the contract's 64 KiB).
const MaxBodyBytes = 64 << 10

const (
	mediaJSON = "application/json"
	mediaForm = "application/x-www-form-urlencoded"
)

// readBody returns the request body, bounded, after checking its media
// type. An empty body is returned as nil whatever its type, so endpoints
// with only optional fields accept a bare POST.
func readBody(r *http.Request, allowForm bool) (body []byte, media string, err error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, "", baton.Errorf(baton.ERequestTooLarge, "the request body is larger than 64 KiB")
	}
	body, err = io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, "", baton.Errorf(baton.EInvalidRequest, "the request body could not be read")
	}
	if len(body) > MaxBodyBytes {
		return nil, "", baton.Errorf(baton.ERequestTooLarge, "the request body is larger than 64 KiB")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, "", nil
	}
	media, _, err = mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case err == nil && media == mediaJSON:
	case err == nil && media == mediaForm && allowForm:
	case allowForm:
		return nil, "", baton.Errorf(baton.EUnsupportedMediaType, "send application/json or application/x-www-form-urlencoded")
	default:
		return nil, "", baton.Errorf(baton.EUnsupportedMediaType, "send application/json")
	}
	return body, media, nil
}

// decodeJSON reads a JSON object into dst, a pointer to a struct whose
// fields are *string so a missing field can be told from an empty one. The
// named fields (by JSON name) are required: a body without one of them is
// invalid_request, and with any required field an empty body is too.
func decodeJSON(r *http.Request, dst any, required ...string) error {
	body, _, err := readBody(r, false)
	if err != nil {
		return err
	}
	if body == nil {
		if len(required) > 0 {
			return baton.Errorf(baton.EInvalidRequest, "the request body is empty")
		}
		return nil
	}
	if err := unmarshalObject(body, dst); err != nil {
		return err
	}
	return checkRequired(dst, required)
}

// checkRequired reports the first required field left nil in *dst.
func checkRequired(dst any, required []string) error {
	if len(required) == 0 {
		return nil
	}
	v := reflect.ValueOf(dst).Elem()
	t := v.Type()
	for _, name := range required {
		found := false
		for i := 0; i < t.NumField() && !found; i++ {
			tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if found = tag == name; found && v.Field(i).IsNil() {
				return baton.Errorf(baton.EInvalidRequest, "the field %q is required", name)
			}
		}
		if !found {
			panic("httpapi: decodeJSON: no field " + name) // a handler's typo
		}
	}
	return nil
}

func unmarshalObject(body []byte, dst any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return baton.Errorf(baton.EInvalidRequest, "the request body must be a JSON object")
	}
	if err := checkMembers(body, fieldNames(dst)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return baton.Errorf(baton.EInvalidRequest, "the field %q has the wrong type", te.Field)
		}
		return errNotJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return baton.Errorf(baton.EInvalidRequest, "the request body has data after the JSON object")
	}
	return nil
}

// checkMembers refuses the bodies that two JSON readers could read
// differently: encoding/json lets the last of two members with one name win
// and matches names to fields case-insensitively, so {"username":"a",
// "Username":"b"} would register b here and might mean a to a proxy or a
// WAF in front. A member name given twice (compared case-insensitively,
// after unescaping), also in a nested object, or a name that differs from
// one of known (the fields dst has) only in case, is invalid_request. So
// are invalid UTF-8 and nesting deeper than strictjson.MaxDepth.
func checkMembers(body []byte, known []string) error {
	s := strictjson.New(body)
	o, err := s.Object(known)
	if err != nil {
		return errNotJSON
	}
	for {
		name, ok, err := o.Next()
		if err != nil {
			return memberError(err, name)
		}
		if !ok {
			break
		}
		if err := s.Skip(1); err != nil {
			return memberError(err, name)
		}
	}
	if s.End() != nil {
		return baton.Errorf(baton.EInvalidRequest, "the request body has data after the JSON object")
	}
	return nil
}

var errNotJSON = baton.Errorf(baton.EInvalidRequest, "the request body is not valid JSON")

// memberError is the invalid_request for a strictjson error met at the
// member name (nil before the first name).
func memberError(err error, name []byte) error {
	switch {
	case errors.Is(err, strictjson.ErrDuplicate) && name != nil:
		return baton.Errorf(baton.EInvalidRequest, "the member %.64q is given twice (member names are compared regardless of letter case)", name)
	case errors.Is(err, strictjson.ErrDuplicate):
		return baton.Errorf(baton.EInvalidRequest, "a nested object repeats a member name")
	case errors.Is(err, strictjson.ErrFolded):
		return baton.Errorf(baton.EInvalidRequest, "the member %.64q differs from a known member only in letter case", name)
	case errors.Is(err, strictjson.ErrMembers):
		return baton.Errorf(baton.EInvalidRequest, "the request body has too many members")
	case errors.Is(err, strictjson.ErrUTF8):
		return baton.Errorf(baton.EInvalidRequest, "the request body is not valid UTF-8")
	case errors.Is(err, strictjson.ErrDepth):
		return baton.Errorf(baton.EInvalidRequest, "the request body is nested too deeply")
	}
	return errNotJSON
}

// fieldNames returns the JSON names of the fields of *dst when it is a
// struct (the names a body may use); nil for a map, whose keys are read
// exactly as spelt.
func fieldNames(dst any) []string {
	t := reflect.TypeOf(dst)
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	t = t.Elem()
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); tag != "" && tag != "-" {
			names = append(names, tag)
		}
	}
	return names
}

// params are the parameters of an OAuth endpoint, from a form or a JSON
// object of strings.
type params map[string]string

// readParams reads an /oauth/* request body, form-encoded or JSON. RFC 6749
// §3.2 forbids repeating a parameter; so do we.
func readParams(r *http.Request) (params, error) {
	body, media, err := readBody(r, true)
	if err != nil {
		return nil, err
	}
	p := params{}
	if body == nil {
		return p, nil
	}
	if media == mediaJSON {
		var raw map[string]any
		if err := unmarshalObject(body, &raw); err != nil {
			return nil, err
		}
		for k, v := range raw {
			switch v := v.(type) {
			case string:
				p[k] = v
			case nil:
			default:
				return nil, baton.Errorf(baton.EInvalidRequest, "the parameter %q must be a string", k)
			}
		}
		return p, nil
	}
	q, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, baton.Errorf(baton.EInvalidRequest, "the form body is malformed")
	}
	for k, vs := range q {
		if len(vs) > 1 {
			return nil, baton.Errorf(baton.EInvalidRequest, "the parameter %q is repeated", k)
		}
		p[k] = vs[0]
	}
	return p, nil
}

// str returns *p or "".
func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
