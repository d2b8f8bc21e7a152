// Package strictjson reads JSON strictly and without reflection, for the
// JOSE headers and claim sets that token and dpop decode before (and while)
// checking a signature.
//
// It exists because encoding/json (v1) lets the last of two members with the
// same name win and matches names case-insensitively (even "ſub" fills a
// field tagged "sub"), so a token or proof could mean one thing to us and
// another to a different reader. The Scanner refuses what encoding/json
// would silently reinterpret: it returns names unescaped so duplicates are
// caught whatever their spelling, refuses invalid UTF-8 and lone
// surrogates, and bounds nesting. ContainsFold, FoldsToOneOf, CheckName and
// CheckOther let callers refuse a name given twice or spelt in another case.
//
// The Scanner is a pull parser: the caller walks an object with Open and
// Member and reads each value with the method for the type it requires, so
// null or a value of another type is an error, never "absent". It validates
// everything it consumes, so it is safe on arbitrary input; it never panics
// (FuzzScanner). It allocates only to unescape strings that contain escapes:
// names and values without escapes alias the input.
package strictjson

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Errors the Scanner and the name checks return. Callers wrap them with the
// member they were reading; they are safe to show but say little.
var (
	ErrSyntax    = errors.New("malformed JSON")
	ErrUTF8      = errors.New("string is not valid UTF-8")
	ErrDepth     = errors.New("JSON nested too deeply")
	ErrDuplicate = errors.New("duplicate member name")
	ErrMembers   = errors.New("too many members")
	ErrFolded    = errors.New("member name differs from a known one only in case")
	ErrRange     = errors.New("NumericDate out of range")
)

// MaxDepth bounds nesting in values Skip reads; baton's tokens nest one
// level (cnf), DPoP proofs one (jwk).
const MaxDepth = 16

// MaxNames bounds the members of one object whose names are remembered,
// and the elements of an array a caller reads. Checking a new name against
// all previous ones is quadratic, and this runs before the signature is
// checked; a legitimate header or claim set has a dozen members.
const MaxNames = 32

// Scanner reads one JSON text. Its zero value reads an empty input; make
// one with New. A Scanner is small and meant to live in a local variable
// of the function that reads: its methods do not make it or its input
// escape to the heap, so a caller decoding into a stack buffer allocates
// nothing. It is not safe for concurrent use.
type Scanner struct {
	data []byte
	pos  int
}

// New returns a Scanner that reads data. The byte slices its methods
// return may alias data, which must not change while they are in use.
func New(data []byte) Scanner {
	return Scanner{data: data}
}

func (s *Scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *Scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

func (s *Scanner) eat(c byte) bool {
	if s.pos < len(s.data) && s.data[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

// End returns ErrSyntax unless only whitespace is left.
func (s *Scanner) End() error {
	s.ws()
	if s.pos != len(s.data) {
		return ErrSyntax
	}
	return nil
}

// Open consumes the '{' that starts an object, after any whitespace.
func (s *Scanner) Open() error {
	s.ws()
	if !s.eat('{') {
		return ErrSyntax
	}
	return nil
}

// Member reads the name of the next member of the object being read and
// the ':' after it; count is the number of members read before. It returns
// ok == false after consuming the closing '}'. The caller must then read
// the member's value before calling Member again.
//
// Member does not check names against each other: see CheckName and
// CheckOther.
func (s *Scanner) Member(count int) (name []byte, ok bool, err error) {
	s.ws()
	if s.eat('}') {
		return nil, false, nil
	}
	if count > 0 {
		if !s.eat(',') {
			return nil, false, ErrSyntax
		}
		s.ws()
	}
	if name, err = s.Str(); err != nil {
		return nil, false, err
	}
	s.ws()
	if !s.eat(':') {
		return nil, false, ErrSyntax
	}
	s.ws()
	return name, true, nil
}

// Object walks the members of one JSON object and checks their names, the
// walk every reader of baton's JSON shares: a name appears once, also when
// compared case-insensitively (ErrDuplicate), a name that differs from one
// of known (the names the caller reads) only in case is refused
// (ErrFolded), and an object has at most MaxNames members (ErrMembers).
// The caller reads or skips each member's value before calling Next again.
//
// The two hottest readers, token's header and claims decoders, decode into
// stack buffers and keep their own loops with CheckName and CheckOther:
// Next stores names through a pointer, which makes the scanned buffer
// escape to the heap (go build -gcflags=-m), one allocation per token.
type Object struct {
	s     *Scanner
	known []string
	seen  [MaxNames][]byte
	n     int
}

// Object consumes the '{' that starts an object and returns its walker.
func (s *Scanner) Object(known []string) (Object, error) {
	return Object{s: s, known: known}, s.Open()
}

// Next reads the next member's name and checks it; ok is false after the
// closing '}'. On a name error, name is returned with it for the message.
func (o *Object) Next() (name []byte, ok bool, err error) {
	name, ok, err = o.s.Member(o.n)
	if err != nil || !ok {
		return nil, ok, err
	}
	if FoldsToOneOf(name, o.known) {
		return name, true, ErrFolded
	}
	if err := CheckName(o.seen[:o.n], name); err != nil {
		return name, true, err
	}
	o.seen[o.n] = name
	o.n++
	return name, true, nil
}

// AtArray reports whether the next value is an array, consuming nothing.
func (s *Scanner) AtArray() bool { return s.peek() == '[' }

// OpenArray consumes the '[' that starts an array.
func (s *Scanner) OpenArray() error {
	if !s.eat('[') {
		return ErrSyntax
	}
	return nil
}

// Element moves to the next element of the array being read; count is the
// number of elements read before. It returns ok == false after consuming
// the closing ']'; otherwise the caller must read the element.
func (s *Scanner) Element(count int) (ok bool, err error) {
	s.ws()
	if s.eat(']') {
		return false, nil
	}
	if count > 0 {
		if !s.eat(',') {
			return false, ErrSyntax
		}
		s.ws()
	}
	return true, nil
}

// Str reads a string and returns its unescaped bytes. Without escapes (the
// common case) the result aliases the input and nothing is allocated.
func (s *Scanner) Str() ([]byte, error) {
	if !s.eat('"') {
		return nil, ErrSyntax
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
				return nil, ErrUTF8
			}
			return raw, nil
		case c == '\\':
			escaped = true
			s.pos += 2 // the escape's body is checked by unescape
		case c < 0x20:
			return nil, ErrSyntax
		default:
			s.pos++
		}
	}
	return nil, ErrSyntax
}

// StringValue reads a string as Str does and returns a copy of it.
func (s *Scanner) StringValue() (string, error) {
	b, err := s.Str()
	return string(b), err
}

// StringValueLike is StringValue returning like itself, not a copy, when
// the value equals it: reading a value the caller expects (an issuer, an
// audience) then allocates nothing.
func (s *Scanner) StringValueLike(like string) (string, error) {
	b, err := s.Str()
	if err == nil && string(b) == like {
		return like, nil
	}
	return string(b), err
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
			return nil, ErrSyntax
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
				return nil, ErrSyntax
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// Only a high surrogate followed by an escaped low one
				// makes a character; encoding/json would substitute
				// U+FFFD for anything else, we refuse it.
				if len(raw) < i+6 || raw[i] != '\\' || raw[i+1] != 'u' {
					return nil, ErrUTF8
				}
				r2, ok := hex4(raw[i+2:])
				if !ok {
					return nil, ErrSyntax
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return nil, ErrUTF8
				}
				i += 6
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return nil, ErrSyntax
		}
		i += 2
	}
	if !utf8.Valid(out) {
		return nil, ErrUTF8
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
func (s *Scanner) number() ([]byte, error) {
	start := s.pos
	s.eat('-')
	switch c := s.peek(); {
	case c == '0':
		s.pos++
	case '1' <= c && c <= '9':
		s.digits()
	default:
		return nil, ErrSyntax
	}
	if s.eat('.') {
		if s.digits() == 0 {
			return nil, ErrSyntax
		}
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		if s.digits() == 0 {
			return nil, ErrSyntax
		}
	}
	return s.data[start:s.pos], nil
}

func (s *Scanner) digits() int {
	start := s.pos
	for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		s.pos++
	}
	return s.pos - start
}

// literal consumes word if it comes next.
func (s *Scanner) literal(word string) bool {
	if len(s.data)-s.pos >= len(word) && string(s.data[s.pos:s.pos+len(word)]) == word {
		s.pos += len(word)
		return true
	}
	return false
}

// Boolean reads true or false; null and every other type are errors.
func (s *Scanner) Boolean() (bool, error) {
	switch {
	case s.literal("true"):
		return true, nil
	case s.literal("false"):
		return false, nil
	}
	return false, ErrSyntax
}

// maxNumericDate is the last second of year 9999: a NumericDate past it is
// no date any token or proof of ours carries, and bounding it keeps the
// conversion to time.Time exact.
const maxNumericDate = 253402300799

// NumericDate reads a NumericDate (RFC 7519 §2): seconds since the epoch,
// possibly fractional. The fraction is dropped, as golang-jwt does. A
// negative date or one past year 9999 is ErrRange.
func (s *Scanner) NumericDate() (int64, error) {
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
			return 0, ErrRange
		}
		v = int64(f)
	}
	if v > maxNumericDate {
		return 0, ErrRange
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

// Skip reads and discards any value, checking the member names of objects
// in it with CheckName. depth is the nesting of the value: 1 for a member
// of the top-level object. Past MaxDepth it returns ErrDepth.
func (s *Scanner) Skip(depth int) error {
	if depth > MaxDepth {
		return ErrDepth
	}
	switch c := s.peek(); {
	case c == '"':
		_, err := s.Str()
		return err
	case c == '-' || '0' <= c && c <= '9':
		_, err := s.number()
		return err
	case c == '{':
		// Not Object: Skip runs inside token's zero-allocation decoders,
		// so names stay in a local array (see Object).
		s.pos++
		var seen [MaxNames][]byte
		for n := 0; ; n++ {
			name, ok, err := s.Member(n)
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
			if err := CheckName(seen[:n], name); err != nil {
				return err
			}
			seen[n] = name
			if err := s.Skip(depth + 1); err != nil {
				return err
			}
		}
	case c == '[':
		s.pos++
		for n := 0; ; n++ {
			ok, err := s.Element(n)
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
			if err := s.Skip(depth + 1); err != nil {
				return err
			}
		}
	case s.literal("true"), s.literal("false"), s.literal("null"):
		return nil
	}
	return ErrSyntax
}

// CheckName reports whether name may follow seen, the names already read
// in one object: ErrMembers when seen holds MaxNames names already,
// ErrDuplicate when name is among them (as ContainsFold finds it). On nil
// the caller appends name to seen.
//
// Callers keep seen in a local array ([MaxNames][]byte) and store name
// themselves: a helper storing into the caller's array through a pointer
// would make the scanned buffer escape to the heap.
//
// It is written out rather than calling ContainsFold so that it stays
// within the compiler's inlining budget (go build -gcflags=-m): it runs for
// every member of every header on the hot path.
func CheckName(seen [][]byte, name []byte) error {
	if len(seen) >= MaxNames {
		return ErrMembers
	}
	for _, s := range seen {
		if bytes.EqualFold(s, name) {
			return ErrDuplicate
		}
	}
	return nil
}

// CheckOther is CheckName for a member whose value the caller skips
// because it does not read that name: it returns ErrFolded first if name
// differs from one of known, the names the caller reads, only in case, so
// that no other reader takes it for that member. seen holds the names of
// the other members skipped so far (the caller refuses a known name given
// twice by other means).
func CheckOther(seen [][]byte, name []byte, known []string) error {
	if FoldsToOneOf(name, known) {
		return ErrFolded
	}
	return CheckName(seen, name)
}

// ContainsFold reports whether name is in list, the names already seen in
// one object. Names are compared case-insensitively with Unicode folding,
// because that is how encoding/json matches them to struct fields:
// {"kid":…,"KID":…} is one parameter given twice to such a reader.
func ContainsFold(list [][]byte, name []byte) bool {
	for _, seen := range list {
		if bytes.EqualFold(seen, name) {
			return true
		}
	}
	return false
}

// FoldsToOneOf reports whether name matches one of known case-insensitively
// (as encoding/json would) without being spelt exactly like it.
func FoldsToOneOf(name []byte, known []string) bool {
	for _, k := range known {
		if string(name) != k && bytes.EqualFold(name, []byte(k)) {
			return true
		}
	}
	return false
}
