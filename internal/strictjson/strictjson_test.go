package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

// readObject reads data as one object whose members are strings, read with
// StringValue, or anything else, skipped, the way token and dpop read a
// header: every name checked with CheckName.
func readObject(data []byte) (map[string]string, error) {
	s := New(data)
	if err := s.Open(); err != nil {
		return nil, err
	}
	got := map[string]string{}
	var seen [MaxNames][]byte
	for i := 0; ; i++ {
		name, ok, err := s.Member(i)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if err := CheckName(seen[:i], name); err != nil {
			return nil, err
		}
		seen[i] = name
		if s.peek() == '"' {
			got[string(name)], err = s.StringValue()
		} else {
			err = s.Skip(1)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := s.End(); err != nil {
		return nil, err
	}
	return got, nil
}

func TestObject(t *testing.T) {
	for _, tt := range []struct {
		name    string
		json    string
		want    map[string]string
		wantErr error
	}{
		{name: "OK", json: `{"a":"x","b":"y"}`, want: map[string]string{"a": "x", "b": "y"}},
		{name: "Whitespace", json: " \t\r\n{ \"a\" : \"x\" ,\n\"b\":false } \n", want: map[string]string{"a": "x"}},
		{name: "Empty", json: `{}`, want: map[string]string{}},
		{name: "EscapedName", json: `{"\u0061":"x"}`, want: map[string]string{"a": "x"}},
		{name: "Nested", json: `{"x":{"y":[1,-2.5e-3,0,0.5,1E+2,true,false,null,{"z":"w"},[]]},"a":"x"}`, want: map[string]string{"a": "x"}},
		{name: "NestedSameNameAsOuter", json: `{"a":{"a":1},"b":"y"}`, want: map[string]string{"b": "y"}},
		{name: "ErrTrailingComma", json: `{"a":"x",}`, wantErr: ErrSyntax},
		{name: "ErrLeadingComma", json: `{,"a":"x"}`, wantErr: ErrSyntax},
		{name: "ErrMissingComma", json: `{"a":"x" "b":"y"}`, wantErr: ErrSyntax},
		{name: "ErrMissingColon", json: `{"a" "x"}`, wantErr: ErrSyntax},
		{name: "ErrUnquotedName", json: `{a:"x"}`, wantErr: ErrSyntax},
		{name: "ErrTrailingData", json: `{"a":"x"}{}`, wantErr: ErrSyntax},
		{name: "ErrUnclosed", json: `{"a":"x"`, wantErr: ErrSyntax},
		{name: "ErrUnclosedArray", json: `{"a":[1,2}`, wantErr: ErrSyntax},
		{name: "ErrArrayTrailingComma", json: `{"a":[1,]}`, wantErr: ErrSyntax},
		{name: "ErrArrayMissingComma", json: `{"a":[1 2]}`, wantErr: ErrSyntax},
		{name: "ErrNotObject", json: `["a"]`, wantErr: ErrSyntax},
		{name: "ErrEmpty", json: ``, wantErr: ErrSyntax},
		{name: "ErrTrueish", json: `{"a":tru}`, wantErr: ErrSyntax},
		{name: "ErrNullish", json: `{"a":nul}`, wantErr: ErrSyntax},
		{name: "ErrLeadingZero", json: `{"a":01}`, wantErr: ErrSyntax},
		{name: "ErrPlusNumber", json: `{"a":+1}`, wantErr: ErrSyntax},
		{name: "ErrNaN", json: `{"a":NaN}`, wantErr: ErrSyntax},
		{name: "ErrHexNumber", json: `{"a":0x10}`, wantErr: ErrSyntax},
		{name: "ErrDotNumber", json: `{"a":1.}`, wantErr: ErrSyntax},
		{name: "ErrLeadingDot", json: `{"a":.5}`, wantErr: ErrSyntax},
		{name: "ErrExponentOnly", json: `{"a":1e}`, wantErr: ErrSyntax},
		{name: "ErrMinusOnly", json: `{"a":-}`, wantErr: ErrSyntax},
		{name: "ErrDuplicate", json: `{"a":"x","a":"x"}`, wantErr: ErrDuplicate},
		{name: "ErrDuplicateFolded", json: `{"kid":"x","KID":"y"}`, wantErr: ErrDuplicate},
		{name: "ErrDuplicateLongS", json: `{"s":"x","ſ":"y"}`, wantErr: ErrDuplicate},
		{name: "ErrDuplicateEscaped", json: `{"a":"x","\u0041":"y"}`, wantErr: ErrDuplicate},
		{name: "ErrDuplicateNested", json: `{"x":{"a":1,"A":2}}`, wantErr: ErrDuplicate},
		{name: "ErrInvalidUTF8Name", json: "{\"\xff\":1}", wantErr: ErrUTF8},
		{name: "ErrTooDeep", json: `{"x":` + strings.Repeat(`{"a":`, MaxDepth) + `1` + strings.Repeat(`}`, MaxDepth) + `}`, wantErr: ErrDepth},
		{name: "ErrTooDeepArray", json: `{"x":` + strings.Repeat(`[`, MaxDepth+1) + strings.Repeat(`]`, MaxDepth+1) + `}`, wantErr: ErrDepth},
		{name: "ErrTooManyMembers", json: manyMembers(MaxNames + 1), wantErr: ErrMembers},
		{name: "ErrTooManyNestedMembers", json: `{"x":` + manyMembers(MaxNames+1) + `}`, wantErr: ErrMembers},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readObject([]byte(tt.json))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("members (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("DeepestAllowed", func(t *testing.T) {
		deep := `{"x":` + strings.Repeat(`[`, MaxDepth) + strings.Repeat(`]`, MaxDepth) + `}`
		if _, err := readObject([]byte(deep)); err != nil {
			t.Errorf("got error %v, want nil", err)
		}
	})
	t.Run("MostMembers", func(t *testing.T) {
		if _, err := readObject([]byte(manyMembers(MaxNames))); err != nil {
			t.Errorf("got error %v, want nil", err)
		}
	})
}

// manyMembers returns an object with n distinct members.
func manyMembers(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"x` + strconv.Itoa(i) + `":1`)
	}
	b.WriteString("}")
	return b.String()
}

func TestStr(t *testing.T) {
	for _, tt := range []struct {
		name    string
		json    string
		want    string
		wantErr error
	}{
		{name: "OK", json: `"abc"`, want: "abc"},
		{name: "Empty", json: `""`, want: ""},
		{name: "UTF8", json: `"日本ſ"`, want: "日本ſ"},
		{name: "Escapes", json: `"\"\\\/\b\f\n\r\t\u00e9\ud83d\udd11\u0000"`, want: "\"\\/\b\f\n\r\t\u00e9\U0001F511\x00"},
		{name: "UpperHex", json: `"\u00E9"`, want: "\u00e9"},
		{name: "ErrUnclosed", json: `"abc`, wantErr: ErrSyntax},
		{name: "ErrUnclosedAfterEscape", json: `"abc\"`, wantErr: ErrSyntax},
		{name: "ErrBackslashAtEnd", json: `"abc\`, wantErr: ErrSyntax},
		{name: "ErrControlChar", json: "\"a\nb\"", wantErr: ErrSyntax},
		{name: "ErrBadEscape", json: `"\x"`, wantErr: ErrSyntax},
		{name: "ErrShortUnicode", json: `"\u12"`, wantErr: ErrSyntax},
		{name: "ErrBadHex", json: `"\u12g4"`, wantErr: ErrSyntax},
		{name: "ErrLoneHighSurrogate", json: `"\ud83d"`, wantErr: ErrUTF8},
		{name: "ErrLoneLowSurrogate", json: `"\udd11"`, wantErr: ErrUTF8},
		{name: "ErrSurrogateThenChar", json: `"\ud83d\u0041"`, wantErr: ErrUTF8},
		{name: "ErrSurrogateThenBadHex", json: `"\ud83d\uzzzz"`, wantErr: ErrSyntax},
		{name: "ErrInvalidUTF8", json: "\"\xc3\x28\"", wantErr: ErrUTF8},
		{name: "ErrInvalidUTF8WithEscape", json: "\"\\n\xff\"", wantErr: ErrUTF8},
		{name: "ErrEncodedSurrogate", json: "\"\xed\xa0\xbd\"", wantErr: ErrUTF8},
		{name: "ErrNull", json: `null`, wantErr: ErrSyntax},
		{name: "ErrNumber", json: `1`, wantErr: ErrSyntax},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := New([]byte(tt.json))
			got, err := s.StringValue()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if err == nil {
				if got != tt.want {
					t.Errorf("got %q, want %q", got, tt.want)
				}
				if err := s.End(); err != nil {
					t.Errorf("End: got %v, want nil", err)
				}
			}
		})
	}

	t.Run("AliasesUnescaped", func(t *testing.T) {
		data := []byte(`"abc"`)
		s := New(data)
		got, err := s.Str()
		if err != nil || &got[0] != &data[1] {
			t.Errorf("got %q, %v; want a slice of the input", got, err)
		}
	})
	t.Run("Like", func(t *testing.T) {
		like := strings.Repeat("a", 3)
		s := New([]byte(`"aaa"`))
		got, err := s.StringValueLike(like)
		if err != nil || unsafe.StringData(got) != unsafe.StringData(like) {
			t.Fatalf("got %q, %v; want like itself", got, err)
		}
		s = New([]byte(`"aab"`))
		if got, err := s.StringValueLike(like); err != nil || got != "aab" {
			t.Errorf("got %q, %v; want \"aab\"", got, err)
		}
	})
}

func TestNumericDate(t *testing.T) {
	for _, tt := range []struct {
		name    string
		json    string
		want    int64
		wantErr error
	}{
		{name: "Zero", json: `0`, want: 0},
		{name: "Seconds", json: `1893553445`, want: 1893553445},
		{name: "Fraction", json: `1.9`, want: 1},
		{name: "Exponent", json: `1.9e3`, want: 1900},
		{name: "NegativeExponent", json: `15e-1`, want: 1},
		{name: "LastSecondOf9999", json: `253402300799`, want: 253402300799},
		{name: "ErrNegative", json: `-1`, wantErr: ErrRange},
		{name: "ErrYear10000", json: `253402300800`, wantErr: ErrRange},
		{name: "ErrYear10000Float", json: `2.534023008e11`, wantErr: ErrRange},
		{name: "ErrHuge", json: `1e400`, wantErr: ErrRange},
		{name: "ErrManyDigits", json: `0000000000001`, wantErr: ErrSyntax},
		{name: "ErrString", json: `"1"`, wantErr: ErrSyntax},
		{name: "ErrNull", json: `null`, wantErr: ErrSyntax},
		{name: "ErrLeadingZero", json: `01`, wantErr: ErrSyntax},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := New([]byte(tt.json))
			got, err := s.NumericDate()
			if err == nil {
				err = s.End()
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestBoolean(t *testing.T) {
	for _, tt := range []struct {
		json    string
		want    bool
		wantErr error
	}{
		{json: `true`, want: true},
		{json: `false`, want: false},
		{json: `null`, wantErr: ErrSyntax},
		{json: `1`, wantErr: ErrSyntax},
		{json: `"true"`, wantErr: ErrSyntax},
		{json: `fals`, wantErr: ErrSyntax},
	} {
		t.Run(tt.json, func(t *testing.T) {
			s := New([]byte(tt.json))
			got, err := s.Boolean()
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("got %v, %v; want %v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestArray(t *testing.T) {
	read := func(data string) ([]string, error) {
		s := New([]byte(data))
		if !s.AtArray() {
			return nil, errors.New("not an array")
		}
		if err := s.OpenArray(); err != nil {
			return nil, err
		}
		var got []string
		for n := 0; ; n++ {
			ok, err := s.Element(n)
			if err != nil {
				return nil, err
			}
			if !ok {
				return got, s.End()
			}
			v, err := s.StringValue()
			if err != nil {
				return nil, err
			}
			got = append(got, v)
		}
	}
	for _, tt := range []struct {
		name    string
		json    string
		want    []string
		wantErr error
	}{
		{name: "OK", json: `["a", "b" ,"c"]`, want: []string{"a", "b", "c"}},
		{name: "Empty", json: `[ ]`},
		{name: "ErrTrailingComma", json: `["a",]`, wantErr: ErrSyntax},
		{name: "ErrLeadingComma", json: `[,"a"]`, wantErr: ErrSyntax},
		{name: "ErrMissingComma", json: `["a" "b"]`, wantErr: ErrSyntax},
		{name: "ErrUnclosed", json: `["a"`, wantErr: ErrSyntax},
		{name: "ErrElementType", json: `["a",1]`, wantErr: ErrSyntax},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := read(tt.json)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("elements (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckOther(t *testing.T) {
	known := []string{"sub", "client_id"}
	seen := [][]byte{[]byte("x"), []byte("y")}
	for _, tt := range []struct {
		name    string
		seen    [][]byte
		member  string
		wantErr error
	}{
		{name: "OK", seen: seen, member: "z"},
		{name: "Known", seen: seen, member: "sub"}, // the caller reads it: not its business
		{name: "ErrFolded", seen: seen, member: "SUB", wantErr: ErrFolded},
		{name: "ErrFoldedLongS", seen: seen, member: "ſub", wantErr: ErrFolded},
		{name: "ErrFoldedMixed", seen: seen, member: "Client_ID", wantErr: ErrFolded},
		{name: "ErrDuplicate", seen: seen, member: "Y", wantErr: ErrDuplicate},
		{name: "ErrMembers", seen: make([][]byte, MaxNames), member: "z", wantErr: ErrMembers},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckOther(tt.seen, []byte(tt.member), known); !errors.Is(err, tt.wantErr) {
				t.Errorf("got %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestNoAllocs checks the property token's header check relies on: a
// caller reading from a buffer on its stack allocates nothing, because
// no method makes the Scanner or its input escape.
func TestNoAllocs(t *testing.T) {
	src := `{"alg":"EdDSA","kid":"k1","typ":"at+jwt","x":{"a":[1,-2.5e3,true,null,"s"]},"exp":1893553445}`
	var sink int64
	n := testing.AllocsPerRun(100, func() {
		var buf [128]byte
		s := New(buf[:copy(buf[:], src)])
		if err := s.Open(); err != nil {
			t.Fatal(err)
		}
		var seen [MaxNames][]byte
		for i := 0; ; i++ {
			name, ok, err := s.Member(i)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			if err := CheckOther(seen[:i], name, []string{"iss"}); err != nil {
				t.Fatal(err)
			}
			seen[i] = name
			switch string(name) {
			case "typ":
				_, err = s.StringValueLike("at+jwt")
			case "exp":
				sink, err = s.NumericDate()
			default:
				err = s.Skip(1)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := s.End(); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 || sink == 0 {
		t.Errorf("got %v allocations, want 0", n)
	}
}

// FuzzScanner checks the Scanner against encoding/json: it never panics,
// accepts only valid JSON, refuses valid JSON only for the reasons it
// exists (duplicate names, bad Unicode, limits), and reads strings as
// encoding/json does.
func FuzzScanner(f *testing.F) {
	f.Add([]byte(`{"iss":"i","sub":"s","aud":"a","exp":2,"nbf":1,"iat":1,"jti":"j","fresh":true,"cnf":{"jkt":"k"}}`))
	f.Add([]byte(`{"sub":"\"\\\/\b\f\n\r\t\u00e9\ud83d\udd11","aud":["a","b"],"exp":1.5e9}`))
	f.Add([]byte(`{"x":{"y":[1,-2.5e-3,true,false,null,{"z":"w"}]},"s\u0075b":"s"}`))
	f.Add([]byte(`{"sub":"a","SUB":"b"}`))
	f.Add([]byte(`{"ſub":"a","sub":"b"}`))
	f.Add([]byte(`{"exp":1e400}`))
	f.Add([]byte(`{"a":"\ud83d"}`))
	f.Add([]byte("{\"a\":\"\xff\"}"))
	f.Add([]byte(`{"a":[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := readObject(data)
		valid := json.Valid(data)
		if err != nil {
			isObject := bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{"))
			if valid && isObject && errors.Is(err, ErrSyntax) {
				t.Fatalf("refused valid JSON %q: %v", data, err)
			}
			return
		}
		if !valid {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		for name, v := range got {
			if m[name] != v {
				t.Errorf("%q: got %q, encoding/json %q", name, v, m[name])
			}
		}
		for name, v := range m {
			if s, ok := v.(string); ok && got[name] != s {
				t.Errorf("%q: got %q, encoding/json %q", name, got[name], s)
			}
		}
	})
}

// TestObjectWalk: the shared member walk refuses repeated names (also in
// another case), names folding to a known one, and too many members, and
// reads every member of a good object once.
func TestObjectWalk(t *testing.T) {
	many := "{"
	for i := 0; i <= MaxNames; i++ {
		if i > 0 {
			many += ","
		}
		many += `"m` + string(rune('a'+i)) + `":1`
	}
	many += "}"
	tests := []struct {
		name, in string
		want     error
		names    int
	}{
		{"OK", `{"alg":"x","other":{"a":1},"b":[1]}`, nil, 3},
		{"Empty", `{}`, nil, 0},
		{"Duplicate", `{"alg":"x","alg":"y"}`, ErrDuplicate, 1},
		{"CaseVariant", `{"other":1,"OTHER":2}`, ErrDuplicate, 1},
		{"EscapedDuplicate", `{"alg":"x","\u0061lg":"y"}`, ErrDuplicate, 1},
		{"FoldsToKnown", `{"ALG":"x"}`, ErrFolded, 0},
		{"TooMany", many, ErrMembers, MaxNames},
		{"NotObject", `[1]`, ErrSyntax, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New([]byte(tt.in))
			o, err := s.Object([]string{"alg"})
			names := 0
			for err == nil {
				var ok bool
				if _, ok, err = o.Next(); err != nil || !ok {
					break
				}
				names++
				err = s.Skip(1)
			}
			if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if names != tt.names {
				t.Errorf("members read: got %d, want %d", names, tt.names)
			}
		})
	}
}
