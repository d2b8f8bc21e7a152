package session

import (
	"strings"
	"testing"

	"github.com/batonauth/baton"
)

// FuzzNormalizeCodes: the normalisers of typed TOTP and recovery codes
// never panic; what they accept is exactly the code with its spaces and
// dashes dropped (a recovery code lower-cased), in the expected length and
// alphabet, and normalises to itself again; what they refuse is
// invalid_code.
func FuzzNormalizeCodes(f *testing.F) {
	for _, s := range []string{
		"123456", " 123 456 ", "123-456", "12345", "1234567", "12a456", "١٢٣٤٥٦", "１２３４５６",
		"abcde-fghjk", "ABCDE FGHJK", "abcde-fghji", "abcdefghjk\x00", "ǅabcd-efghj", strings.Repeat("1", 65),
		strings.Repeat(" ", 64) + "123456", "", "-", "\u00a0123456",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		stripped := strings.NewReplacer(" ", "", "-", "").Replace(in)
		check := func(name string, normalize func(string) (string, error), want string, length int, alphabet string) {
			out, err := normalize(in)
			if err != nil {
				if baton.ErrorCode(err) != baton.EInvalidCode || out != "" {
					t.Fatalf("%s(%q): %q, %v; want invalid_code", name, in, out, err)
				}
				return
			}
			if out != want || len(out) != length || len(in) > maxCodeInput || strings.Trim(out, alphabet) != "" {
				t.Fatalf("%s(%q) = %q, want %q: %d of %q, from at most %d bytes", name, in, out, want, length, alphabet, maxCodeInput)
			}
			if again, err := normalize(out); again != out || err != nil {
				t.Fatalf("%s(%q) = %q, %v; want it unchanged", name, out, again, err)
			}
		}
		check("normalizeTOTP", normalizeTOTP, stripped, 6, "0123456789")
		check("normalizeRecoveryCode", normalizeRecoveryCode, strings.ToLower(stripped), recoveryCodeLen, recoveryCodeAlphabet)
	})
}
