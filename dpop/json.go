package dpop

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner reads JSON strictly and without reflection. It is a copy of
// token/json.go (trimmed), kept here so this package stands alone; the two
// should move to one internal package together.
//
// It exists because encoding/json (v1) lets the last of two members with the
// same name win and matches names case-insensitively, so a proof could mean
// one thing to us and another to a different reader. The scanner returns
// names unescaped so duplicates are caught whatever their spelling, refuses
// invalid UTF-8 and lone surrogates, and bounds nesting. It validates
// everything it consumes and never panics (FuzzVerify).
type scanner struct {
	data []byte
	pos  int
}

var (
	errSyntax    = errors.New("malformed JSON")
	errUTF8      = errors.New("string is not valid UTF-8")
	errDepth     = errors.New("JSON nested too deeply")
	errDuplicate = errors.New("duplicate member name")
	errMembers   = errors.New("too many members")
	errFolded    = errors.New("member name differs from a known one only in case")
)

// maxDepth bounds nesting in values we skip; a proof nests one level (jwk).
const maxDepth = 16

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

func (s *scanner) eat(c byte) bool {
	if s.pos < len(s.data) && s.data[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

// end reports an error unless only whitespace is left.
func (s *scanner) end() error {
	s.ws()
	if s.pos != len(s.data) {
		return errSyntax
	}
	return nil
}

// open consumes the '{' that starts an object.
func (s *scanner) open() error {
	s.ws()
	if !s.eat('{') {
		return errSyntax
	}
	return nil
}

// member reads the name of the next member of the object being read and the
// ':' after it; count is the number of members read before. It returns
// ok == false after consuming the closing '}'.
func (s *scanner) member(count int) (name []byte, ok bool, err error) {
	s.ws()
	if s.eat('}') {
		return nil, false, nil
	}
	if count > 0 {
		if !s.eat(',') {
			return nil, false, errSyntax
		}
		s.ws()
	}
	if name, err = s.str(); err != nil {
		return nil, false, err
	}
	s.ws()
	if !s.eat(':') {
		return nil, false, errSyntax
	}
	s.ws()
	return name, true, nil
}

// str reads a string and returns its unescaped bytes. Without escapes (the
// common case) the result aliases the input and nothing is allocated.
func (s *scanner) str() ([]byte, error) {
	if !s.eat('"') {
		return nil, errSyntax
	}
	start := s.pos
	escaped := false
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			raw := s.data[start:s.pos]
			s.pos++
			if escaped {
				return unescape(raw)
			}
			if !utf8.Valid(raw) {
				return nil, errUTF8
			}
			return raw, nil
		case c == '\\':
			escaped = true
			s.pos += 2 // the escape's body is checked by unescape
		case c < 0x20:
			return nil, errSyntax
		default:
			s.pos++
		}
	}
	return nil, errSyntax
}

// unescape decodes the body of a string that contains escapes.
func unescape(raw []byte) ([]byte, error) {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(raw) {
			return nil, errSyntax
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			out = append(out, raw[i+1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(raw[i+2:])
			if !ok {
				return nil, errSyntax
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// Only a high surrogate followed by an escaped low one
				// makes a character; encoding/json would substitute
				// U+FFFD for anything else, we refuse it.
				if len(raw) < i+6 || raw[i] != '\\' || raw[i+1] != 'u' {
					return nil, errUTF8
				}
				r2, ok := hex4(raw[i+2:])
				if !ok {
					return nil, errSyntax
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return nil, errUTF8
				}
				i += 6
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return nil, errSyntax
		}
		i += 2
	}
	if !utf8.Valid(out) {
		return nil, errUTF8
	}
	return out, nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a number per RFC 8259's grammar and returns its text.
func (s *scanner) number() ([]byte, error) {
	start := s.pos
	s.eat('-')
	switch c := s.peek(); {
	case c == '0':
		s.pos++
	case '1' <= c && c <= '9':
		s.digits()
	default:
		return nil, errSyntax
	}
	if s.eat('.') {
		if s.digits() == 0 {
			return nil, errSyntax
		}
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		if s.digits() == 0 {
			return nil, errSyntax
		}
	}
	return s.data[start:s.pos], nil
}

func (s *scanner) digits() int {
	start := s.pos
	for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		s.pos++
	}
	return s.pos - start
}

// literal consumes word if it comes next.
func (s *scanner) literal(word string) bool {
	if len(s.data)-s.pos >= len(word) && string(s.data[s.pos:s.pos+len(word)]) == word {
		s.pos += len(word)
		return true
	}
	return false
}

// skip reads and discards any value, checking member names of objects in
// it for duplicates.
func (s *scanner) skip(depth int) error {
	if depth > maxDepth {
		return errDepth
	}
	switch c := s.peek(); {
	case c == '"':
		_, err := s.str()
		return err
	case c == '-' || '0' <= c && c <= '9':
		_, err := s.number()
		return err
	case c == '{':
		s.pos++
		var seen [maxNames][]byte
		for n := 0; ; n++ {
			name, ok, err := s.member(n)
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
			if n == len(seen) {
				return errMembers
			}
			if containsFold(seen[:n], name) {
				return errDuplicate
			}
			seen[n] = name
			if err := s.skip(depth + 1); err != nil {
				return err
			}
		}
	case c == '[':
		s.pos++
		for n := 0; ; n++ {
			s.ws()
			if s.eat(']') {
				return nil
			}
			if n > 0 {
				if !s.eat(',') {
					return errSyntax
				}
				s.ws()
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
		}
	case s.literal("true"), s.literal("false"), s.literal("null"):
		return nil
	}
	return errSyntax
}

// maxNames bounds the members of one object whose names we remember.
// Checking a new name against all previous ones is quadratic, and this runs
// before the signature is checked; a legitimate header or claim set has a
// dozen members.
const maxNames = 32

// containsFold reports whether name is in list, the names already seen in
// one object. Names are compared case-insensitively with Unicode folding,
// because that is how encoding/json matches them to struct fields:
// {"kid":…,"KID":…} is one parameter given twice to such a reader. Callers
// keep list in a local array: a method storing into a shared struct would
// make the scanned buffer escape to the heap.
func containsFold(list [][]byte, name []byte) bool {
	for _, seen := range list {
		if bytes.EqualFold(seen, name) {
			return true
		}
	}
	return false
}

// foldsToOneOf reports whether name matches one of known case-insensitively
// (as encoding/json would) without being spelt exactly like it.
func foldsToOneOf(name []byte, known []string) bool {
	for _, k := range known {
		if string(name) != k && bytes.EqualFold(name, []byte(k)) {
			return true
		}
	}
	return false
}

// maxNumericDate is the last second of year 9999: a NumericDate past it is
// no date any proof carries, and bounding it keeps the conversion
// to time.Time exact.
const maxNumericDate = 253402300799

// numericDate reads a NumericDate (RFC 7519 §2): seconds since the epoch,
// possibly fractional. The fraction is dropped, as golang-jwt does.
func (s *scanner) numericDate() (int64, error) {
	raw, err := s.number()
	if err != nil {
		return 0, err
	}
	var v int64
	if len(raw) <= 12 && allDigits(raw) {
		for _, c := range raw {
			v = v*10 + int64(c-'0')
		}
	} else {
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || f < 0 || f > maxNumericDate {
			return 0, errors.New("NumericDate out of range")
		}
		v = int64(f)
	}
	if v > maxNumericDate {
		return 0, errors.New("NumericDate out of range")
	}
	return v, nil
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}
