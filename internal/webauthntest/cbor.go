package webauthntest

// A CBOR encoder for the few shapes WebAuthn needs (RFC 8949): unsigned and
// negative integers, byte and text strings, and maps. It is written here
// rather than taken from a CBOR library so that the bytes a server under test
// parses were not produced by the library the server parses them with.
//
// Maps keep the order the caller gives; every map in this package is written
// in CTAP2 canonical order (RFC 8949 §4.2.3: shorter keys first, then
// bytewise, so 1, 3, -1, -2, -3 and "fmt", "attStmt", "authData").

type cborPair struct {
	k, v any
}

type cborMap []cborPair

func cborHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= 0xff:
		return append(b, m|24, byte(n))
	case n <= 0xffff:
		return append(b, m|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(b, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	default:
		return append(b, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
			byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// cborAppend panics on a type it does not know: every value comes from this
// package, so that is a bug here, never bad input.
func cborAppend(b []byte, v any) []byte {
	switch v := v.(type) {
	case int:
		if v >= 0 {
			return cborHead(b, 0, uint64(v))
		}
		return cborHead(b, 1, uint64(-1-v))
	case []byte:
		return append(cborHead(b, 2, uint64(len(v))), v...)
	case string:
		return append(cborHead(b, 3, uint64(len(v))), v...)
	case cborMap:
		b = cborHead(b, 5, uint64(len(v)))
		for _, p := range v {
			b = cborAppend(b, p.k)
			b = cborAppend(b, p.v)
		}
		return b
	default:
		panic("webauthntest: cannot encode a value of this type as CBOR")
	}
}

func cborEncode(v any) []byte { return cborAppend(nil, v) }
