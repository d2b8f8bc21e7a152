package config

import (
	"unicode"
	"unicode/utf8"

	"github.com/batonauth/baton/mail"
)

// maxBrandName bounds BATON_BRAND_NAME, which goes into every subject.
const maxBrandName = 64

// mail reads the mail settings: the relay, the sender it requires, and
// the brand name messages show.
func (p *parser) mailSettings() (relay *mail.Relay, from, brand string) {
	if v := p.str("BATON_SMTP_URL", ""); v != "" {
		r, err := mail.ParseRelay(v)
		if err != nil {
			p.fail("BATON_SMTP_URL", "%v", err)
		}
		relay = r
	}
	if from = p.str("BATON_MAIL_FROM", ""); from != "" {
		if _, err := mail.ParseAddress(from); err != nil {
			p.fail("BATON_MAIL_FROM", "%v", err)
		}
	} else if relay != nil {
		p.fail("BATON_MAIL_FROM", "required with BATON_SMTP_URL: the address messages come from, such as noreply@example.com")
	}
	brand = p.str("BATON_BRAND_NAME", "baton")
	ok := utf8.ValidString(brand) && utf8.RuneCountInString(brand) <= maxBrandName
	for _, r := range brand {
		ok = ok && !unicode.IsControl(r)
	}
	if !ok {
		p.fail("BATON_BRAND_NAME", "want up to %d printable characters on one line", maxBrandName)
	}
	return relay, from, brand
}
