package webauthntest_test

import (
	"bytes"
	"encoding/hex"
	"testing"

	"errors"
	"fmt"
	"github.com/google/go-cmp/cmp"
)

// A CBOR decoder of its own for the tests (RFC 8949), so that the checks do
// not share the encoder's mistakes. It accepts only what CTAP2 canonical
// CBOR allows of the types WebAuthn uses: definite lengths and the shortest
// head for every length and integer. Maps decode to map[any]any with int64
// or string keys.

func cborDecode(b []byte) (any, error) {
	v, rest, err := cborNext(b)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("cbor: %d bytes after the item", len(rest))
	}
	return v, nil
}

// cborNext decodes the first item of b and returns the rest.
func cborNext(b []byte) (any, []byte, error) {
	if len(b) == 0 {
		return nil, nil, errors.New("cbor: truncated")
	}
	major, info := b[0]>>5, b[0]&0x1f
	b = b[1:]
	var n uint64
	switch {
	case info < 24:
		n = uint64(info)
	case info <= 27:
		size := 1 << (info - 24)
		if len(b) < size {
			return nil, nil, errors.New("cbor: truncated head")
		}
		for _, c := range b[:size] {
			n = n<<8 | uint64(c)
		}
		b = b[size:]
		if min := [...]uint64{24, 0x100, 0x10000, 0x100000000}[info-24]; n < min {
			return nil, nil, errors.New("cbor: head not in its shortest form")
		}
	default:
		return nil, nil, fmt.Errorf("cbor: additional information %d not allowed", info)
	}
	switch major {
	case 0:
		if n > 1<<62 {
			return nil, nil, errors.New("cbor: integer too large for this test")
		}
		return int64(n), b, nil
	case 1:
		if n > 1<<62 {
			return nil, nil, errors.New("cbor: integer too large for this test")
		}
		return -1 - int64(n), b, nil
	case 2, 3:
		if uint64(len(b)) < n {
			return nil, nil, errors.New("cbor: truncated string")
		}
		if major == 2 {
			return append([]byte(nil), b[:n]...), b[n:], nil
		}
		return string(b[:n]), b[n:], nil
	case 4:
		var arr []any
		for i := uint64(0); i < n; i++ {
			v, rest, err := cborNext(b)
			if err != nil {
				return nil, nil, err
			}
			arr, b = append(arr, v), rest
		}
		return arr, b, nil
	case 5:
		m := map[any]any{}
		var prev []byte
		for i := uint64(0); i < n; i++ {
			k, rest, err := cborNext(b)
			if err != nil {
				return nil, nil, err
			}
			enc := b[:len(b)-len(rest)]
			if prev != nil && (len(enc) < len(prev) || len(enc) == len(prev) && bytes.Compare(enc, prev) <= 0) {
				return nil, nil, fmt.Errorf("cbor: map key %v out of canonical order", k)
			}
			prev = enc
			switch k.(type) {
			case int64, string:
			default:
				return nil, nil, errors.New("cbor: map key neither an integer nor text")
			}
			if _, dup := m[k]; dup {
				return nil, nil, fmt.Errorf("cbor: duplicate key %v", k)
			}
			v, rest, err := cborNext(rest)
			if err != nil {
				return nil, nil, err
			}
			m[k], b = v, rest
		}
		return m, b, nil
	}
	return nil, nil, fmt.Errorf("cbor: major type %d not used by WebAuthn", major)
}

// TestCBORDecode checks the tests' decoder against examples of RFC 8949
// Appendix A, and that it refuses what canonical CBOR does not allow.
func TestCBORDecode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want any
	}{
		{"00", int64(0)}, {"17", int64(23)}, {"1818", int64(24)}, {"1903e8", int64(1000)},
		{"1b000000e8d4a51000", int64(1000000000000)}, {"20", int64(-1)}, {"3903e7", int64(-1000)},
		{"4401020304", []byte{1, 2, 3, 4}}, {"6449455446", "IETF"}, {"83010203", []any{int64(1), int64(2), int64(3)}},
		{"a201020304", map[any]any{int64(1): int64(2), int64(3): int64(4)}},
		{"a26161016162820203", map[any]any{"a": int64(1), "b": []any{int64(2), int64(3)}}},
	} {
		b, _ := hex.DecodeString(tc.in)
		got, err := cborDecode(b)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.in, diff)
		}
	}
	for _, tc := range []struct{ name, in string }{
		{"Empty", ""},
		{"Trailing", "0000"},
		{"NotShortest", "1817"},
		{"NotShortestLength", "580101"},
		{"Indefinite", "5f4101ff"},
		{"Truncated", "4401"},
		{"Float", "f93c00"},
		{"KeysOutOfOrder", "a203040102"},
		{"LongerKeyFirst", "a2181801" + "0102"},
		{"DuplicateKey", "a201020103"},
		{"ByteStringKey", "a1410102"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := hex.DecodeString(tc.in)
			if v, err := cborDecode(b); err == nil {
				t.Errorf("decoded %s as %v, want an error", tc.in, v)
			}
		})
	}
}
