// Command smtpsink is a real SMTP server for the JavaScript and browser
// tests (clients/js/test, e2e): baton delivers its messages to it over
// SMTP (BATON_SMTP_URL=smtp+plain://…) and the tests read them back as
// JSON over HTTP. It listens on 127.0.0.1 only, prints
// {"smtp":"host:port","http":"host:port"} as its first line on stdout,
// and exits when its stdin closes (with the test process that started it).
//
// GET /messages answers [{from, to, subject, text, html, link}], in the
// order received; link is the first URL in the plain-text part that
// carries a #token= fragment, or "".
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"os"
	"regexp"
	"time"

	"github.com/batonauth/baton/mail/smtptest"
)

type message struct {
	From    string   `json:"from"`
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Text    string   `json:"text"`
	HTML    string   `json:"html"`
	Link    string   `json:"link"`
}

var tokenLink = regexp.MustCompile(`https?://[^\s<>"]+#token=[^\s<>"]+`)

func main() {
	relay, stop, err := smtptest.Listen(smtptest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /messages", func(w http.ResponseWriter, r *http.Request) {
		out := []message{}
		for _, m := range relay.Messages() {
			p, err := smtptest.Parse(m.Data)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			subject, err := new(mime.WordDecoder).DecodeHeader(p.Header.Get("Subject"))
			if err != nil {
				subject = p.Header.Get("Subject")
			}
			out = append(out, message{From: m.From, To: m.To, Subject: subject,
				Text: p.Text, HTML: p.HTML, Link: tokenLink.FindString(p.Text)})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	b, _ := json.Marshal(map[string]string{"smtp": relay.Addr(), "http": ln.Addr().String()})
	fmt.Println(string(b))
	// Run until the parent goes away.
	_, _ = io.Copy(io.Discard, os.Stdin)
}
