package webauthntest_test

import (
	"errors"
	"fmt"
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
		for i := uint64(0); i < n; i++ {
			k, rest, err := cborNext(b)
			if err != nil {
				return nil, nil, err
			}
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
