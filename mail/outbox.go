package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/batonauth/baton"
)

// Payload is what a mail message in the outbox holds: the template and
// its data, never a usable secret. A message that carries a one-time link
// names the link by LinkID; the dispatcher asks Options.Link for the URL
// when it sends, so the outbox row is useless to whoever reads the
// database.
type Payload struct {
	Template string `json:"template"`
	Data     Data   `json:"data"`
	LinkID   string `json:"link_id,omitempty"`
	// UserID names the account the message is about, for the audit log.
	UserID string `json:"user_id,omitempty"`
}

// EncodePayload returns the outbox payload of p, with Data.Link dropped.
func EncodePayload(p Payload) ([]byte, error) {
	p.Data.Link = ""
	return json.Marshal(p)
}

// OutboxStore is what the dispatcher needs of the store (baton.OutboxStore).
type OutboxStore interface {
	ClaimOutbox(ctx context.Context, kind string, now time.Time, lease time.Duration, limit int) ([]*baton.OutboxMessage, error)
	OutboxDelivered(ctx context.Context, id string, at time.Time) error
	OutboxFailed(ctx context.Context, id string, now, next time.Time, reason string) error
}

// Delivery outcomes, for Options.Observe.
const (
	Sent  = "sent"    // accepted by the relay
	Retry = "retry"   // failed; due again later
	Given = "gave_up" // failed for good: a permanent refusal, or a day of retries
)

// Delivery is the outcome of one attempt, for metrics and the audit log.
// It never holds the message's text or link.
type Delivery struct {
	ID, Recipient, Template string
	UserID                  string // the account the message is about, if any
	Outcome                 string
	Attempts                int // attempts made, this one included
	Err                     error
}

// DispatcherOptions configure a Dispatcher; zero values take defaults.
type DispatcherOptions struct {
	Store     OutboxStore
	Sender    Sender
	Templates *Templates
	// Link returns the URL of the one-time link a payload names.
	Link func(ctx context.Context, linkID string) (string, error)
	// Observe is told of every attempt at a mail message.
	Observe func(Delivery)
	// Jobs handle the outbox's other kinds of message (kind → handler),
	// claimed and retried as mail is: a handler's error other than a
	// permanent *Error means "try again later". A job that leads to mail
	// stores that mail in the outbox itself.
	Jobs   map[string]func(ctx context.Context, m *baton.OutboxMessage) error
	Now    func() time.Time
	Logger *slog.Logger
	// Lease is how long a claimed message is this instance's (default 2m);
	// it must outlast a delivery (the SMTP sender's own limit is shorter).
	Lease time.Duration
	// Poll is how often the queue is looked at when idle (default 1s).
	Poll time.Duration
	// Batch is the most messages claimed at once (default 16).
	Batch int
	// GiveUpAfter is how long a message is retried (default 24h).
	GiveUpAfter time.Duration
}

// Dispatcher delivers the outbox's mail: it claims due messages, renders
// each from its payload, sends it, and records the outcome, retrying with
// growing back-off (Backoff) until a permanent refusal or GiveUpAfter.
// One runs per instance; on a shared store instances split the queue
// between them by their leases.
type Dispatcher struct {
	opt  DispatcherOptions
	wake chan struct{}
}

// NewDispatcher returns a dispatcher; Run starts it.
func NewDispatcher(opt DispatcherOptions) *Dispatcher {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opt.Lease, 2*time.Minute)
	def(&opt.Poll, time.Second)
	def(&opt.GiveUpAfter, 24*time.Hour)
	if opt.Batch <= 0 {
		opt.Batch = 16
	}
	return &Dispatcher{opt: opt, wake: make(chan struct{}, 1)}
}

// Wake makes a running dispatcher look at the queue now rather than at its
// next poll (after a request enqueued a message).
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTicker(d.opt.Poll)
	defer t.Stop()
	for {
		if _, err := d.Drain(ctx); err != nil && ctx.Err() == nil {
			d.opt.Logger.Warn("outbox: claiming mail failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.wake:
		}
	}
}

// Drain delivers what is due until nothing is left to claim, and returns
// how many messages it attempted. Only a failing store stops it early.
// Jobs go first: a forgot-password request becomes mail the same round.
func (d *Dispatcher) Drain(ctx context.Context) (int, error) {
	total := 0
	for kind := range d.opt.Jobs {
		n, err := d.drain(ctx, kind)
		total += n
		if err != nil {
			return total, err
		}
	}
	n, err := d.drain(ctx, baton.OutboxMail)
	return total + n, err
}

func (d *Dispatcher) drain(ctx context.Context, kind string) (int, error) {
	total := 0
	for ctx.Err() == nil {
		ms, err := d.opt.Store.ClaimOutbox(ctx, kind, d.opt.Now(), d.opt.Lease, d.opt.Batch)
		if err != nil {
			return total, err
		}
		for _, m := range ms {
			d.deliver(ctx, m)
		}
		total += len(ms)
		if len(ms) < d.opt.Batch {
			return total, nil
		}
	}
	return total, ctx.Err()
}

func (d *Dispatcher) deliver(ctx context.Context, m *baton.OutboxMessage) {
	var p Payload
	var err error
	if job := d.opt.Jobs[m.Kind]; job != nil {
		p.Template = m.Kind
		err = job(ctx, m)
	} else if err = json.Unmarshal(m.Payload, &p); err != nil {
		err = &Error{Kind: Invalid, Err: fmt.Errorf("outbox payload: %w", err)}
	} else {
		err = d.send(ctx, m, &p)
	}
	attempts := m.Attempts + 1
	now := d.opt.Now()
	obs := Delivery{ID: m.ID, Recipient: m.Recipient, Template: p.Template, UserID: p.UserID, Attempts: attempts, Err: err}
	var rerr error
	switch {
	case err == nil:
		obs.Outcome = Sent
		rerr = d.opt.Store.OutboxDelivered(ctx, m.ID, now)
	case IsPermanent(err) || now.Sub(m.CreatedAt) >= d.opt.GiveUpAfter:
		obs.Outcome = Given
		rerr = d.opt.Store.OutboxFailed(ctx, m.ID, now, time.Time{}, err.Error())
	default:
		obs.Outcome = Retry
		next := now.Add(Backoff(attempts))
		if last := m.CreatedAt.Add(d.opt.GiveUpAfter); next.After(last) {
			next = last // one last try at the end of the day
		}
		rerr = d.opt.Store.OutboxFailed(ctx, m.ID, now, next, err.Error())
	}
	if rerr != nil {
		// The lease runs out and the message is tried again: at least once.
		d.opt.Logger.Warn("outbox: recording a delivery failed", "id", m.ID, "outcome", obs.Outcome, "err", rerr)
	}
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
	}
	d.opt.Logger.Log(ctx, level, "outbox delivery", "id", m.ID, "kind", m.Kind, "template", p.Template, "outcome", obs.Outcome, "attempts", attempts, "err", err)
	if d.opt.Observe != nil && m.Kind == baton.OutboxMail {
		d.opt.Observe(obs)
	}
}

var errNoLinks = errors.New("the message names a link, but the dispatcher has no link source")

// send renders the message, with its link, and sends it under the
// outbox id, which is its Message-ID on every attempt.
func (d *Dispatcher) send(ctx context.Context, m *baton.OutboxMessage, p *Payload) error {
	data := p.Data
	data.Email = m.Recipient
	if p.LinkID != "" {
		if d.opt.Link == nil {
			return &Error{Kind: Invalid, Err: errNoLinks}
		}
		link, err := d.opt.Link(ctx, p.LinkID)
		if err != nil {
			return &Error{Kind: Invalid, Err: fmt.Errorf("link %s: %w", p.LinkID, err)}
		}
		data.Link = link
	}
	msg, err := d.opt.Templates.Render(p.Template, data)
	if err != nil {
		return &Error{Kind: Invalid, Err: err}
	}
	msg.MessageID = m.ID
	msg.Date = m.CreatedAt
	return d.opt.Sender.Send(ctx, msg)
}

// Backoff is the wait after the attempts-th failed attempt: ten seconds,
// doubling to at most an hour (10s, 20s, 40s, … 2560s, 1h, 1h …: about 33
// attempts in a day). The first waits are short because the usual failure
// is a relay restarting or briefly away, and a reset link held back is a
// user waiting at the screen.
func Backoff(attempts int) time.Duration {
	if attempts < 1 {
		attempts = 1
	}
	if attempts > 9 { // 10s<<9 is past the cap; larger shifts would overflow
		return time.Hour
	}
	return min(10*time.Second<<(attempts-1), time.Hour)
}
