package webauthntest

import (
	"encoding/hex"
	"testing"
)

// TestCBOREncode checks the encoder against the examples of RFC 8949
// Appendix A that fall within what it encodes.
func TestCBOREncode(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{0, "00"}, {1, "01"}, {23, "17"}, {24, "1818"}, {25, "1819"}, {100, "1864"},
		{1000, "1903e8"}, {1000000, "1a000f4240"}, {1000000000000, "1b000000e8d4a51000"},
		{-1, "20"}, {-10, "29"}, {-100, "3863"}, {-1000, "3903e7"},
		{[]byte{}, "40"}, {[]byte{1, 2, 3, 4}, "4401020304"},
		{"", "60"}, {"a", "6161"}, {"IETF", "6449455446"}, {"\u00fc", "62c3bc"},
		{cborMap{}, "a0"}, {cborMap{{1, 2}, {3, 4}}, "a201020304"},
		{cborMap{{"a", "A"}, {"b", "B"}, {"c", "C"}, {"d", "D"}, {"e", "E"}}, "a56161614161626142616361436164614461656145"},
	} {
		if got := hex.EncodeToString(cborEncode(tc.v)); got != tc.want {
			t.Errorf("%#v: got %s, want %s", tc.v, got, tc.want)
		}
	}
}
