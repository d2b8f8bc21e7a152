package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/batonauth/baton/config"
	"github.com/batonauth/baton/mail"
)

const mailUsage = `Usage: baton mail test --to ADDRESS

Send a test message to ADDRESS with the running configuration
(BATON_SMTP_URL, BATON_MAIL_FROM, BATON_BRAND_NAME) and say how the relay
answered: "accepted by HOST:PORT", or what failed — "connection refused",
"relay unreachable", "TLS failure: …", "authentication refused",
"sender refused", "recipient refused", "message refused", "timed out".
The store is not opened.

Exit codes: 0 accepted, 1 not accepted, 2 usage or configuration error.
`

// mailCommand runs `baton mail …`. It needs no store, so it does not go
// through adminCommand: a relay can be checked before the database exists.
func mailCommand(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 || args[0] != "test" {
		if len(args) > 0 && isHelp(args[0]) {
			fmt.Fprint(e.stdout, mailUsage)
			return exitOK
		}
		fmt.Fprint(e.stderr, mailUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("baton mail test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	to := fs.String("to", "", "the address to send the test message to")
	rest, err := parseInterspersed(fs, args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(e.stdout, mailUsage)
		return exitOK
	case err != nil:
		fmt.Fprintf(e.stderr, "baton mail test: %v\n\n%s", err, mailUsage)
		return exitUsage
	case len(rest) > 0 || *to == "":
		fmt.Fprintf(e.stderr, "baton mail test: want --to ADDRESS and nothing else\n\n%s", mailUsage)
		return exitUsage
	}
	if _, err := mail.ParseAddress(*to); err != nil {
		fmt.Fprintf(e.stderr, "baton mail test: --to: %v\n", err)
		return exitUsage
	}
	cfg, err := config.Load(e.getenv)
	if err != nil {
		fmt.Fprintf(e.stderr, "baton mail test: configuration: %v\n", err)
		return exitUsage
	}
	if cfg.SMTP == nil {
		fmt.Fprintln(e.stderr, "baton mail test: BATON_SMTP_URL is not set: nothing is sent, the server writes each message to its log")
		return exitFailure
	}
	outcome, err := sendTestMessage(ctx, cfg, *to)
	if err != nil {
		fmt.Fprintf(e.stderr, "baton mail test: %s\n", outcome)
		return exitFailure
	}
	fmt.Fprintln(e.stdout, outcome)
	return exitOK
}

// sendTestMessage sends the test message and says what happened in words.
func sendTestMessage(ctx context.Context, cfg *config.Config, to string) (string, error) {
	tpl, err := mail.NewTemplates(cfg.BrandName)
	if err != nil {
		return err.Error(), err
	}
	m, err := tpl.Render(mail.Test, mail.Data{Email: to, Relay: cfg.SMTP.String()})
	if err != nil {
		return err.Error(), err
	}
	m.MessageID = mail.NewMessageID(cfg.MailFrom)
	s, err := mail.NewSMTP(cfg.SMTP, cfg.MailFrom, mail.SMTPOptions{Brand: cfg.BrandName})
	if err != nil {
		return err.Error(), err
	}
	if err := s.Send(ctx, m); err != nil {
		return err.Error(), err
	}
	return fmt.Sprintf("accepted by %s (%s): test message <%s> to %s", s.Relay(), cfg.SMTP.Security, m.MessageID, to), nil
}
