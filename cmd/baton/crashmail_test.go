package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // to read a killed instance's outbox

	"github.com/batonauth/baton/mail/smtptest"
	"github.com/batonauth/baton/postgres/pgtest"
)

// TestCrashResetLink: a forgot-password request answered with a 202 is
// not lost to a kill -9 of the only instance, on either store, whether the
// kill comes after the request was resolved into a reset message whose
// delivery failed (the relay is down), or before the request could be
// resolved at all (the dispatcher is busy with another message). After a
// restart, with the relay back on its port, the reset message arrives
// exactly once, also across a further graceful restart, and its link
// resets the password.
func TestCrashResetLink(t *testing.T) {
	skipShort(t)
	stores := []struct {
		name string
		open func(t *testing.T) crashStore
	}{
		{"SQLite", func(t *testing.T) crashStore {
			dir := filepath.Join(t.TempDir(), "data")
			return crashStore{env: []string{"BATON_DATA_DIR=" + dir}, outbox: func(t *testing.T) []outboxRow { return sqliteOutbox(t, dir) }}
		}},
		{"PostgreSQL", func(t *testing.T) crashStore {
			url := pgtest.NewDatabase(t)
			return crashStore{env: []string{"BATON_DATABASE_URL=" + withPoolSize(t, url, 4)}, outbox: func(t *testing.T) []outboxRow { return pgOutbox(t, url) }}
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			t.Run("KilledAfterFailedDelivery", func(t *testing.T) {
				t.Parallel()
				killedAfterFailedDelivery(t, st.open(t))
			})
			t.Run("KilledBeforeTheJobRan", func(t *testing.T) {
				t.Parallel()
				killedBeforeTheJobRan(t, st.open(t))
			})
		})
	}
}

// crashStore is a store that outlives the baton processes of a test.
type crashStore struct {
	env    []string
	outbox func(t *testing.T) []outboxRow // read while no instance runs
}

// outboxRow is an outbox row as the store holds it.
type outboxRow struct {
	Kind     string
	Template string // of a mail message
	Attempts int    // failed attempts
	Leased   bool   // claimed by an instance and not given back
	Done     bool   // sent or given up
}

func (r outboxRow) String() string {
	return fmt.Sprintf("{%s %s attempts=%d leased=%v done=%v}", r.Kind, r.Template, r.Attempts, r.Leased, r.Done)
}

const outboxQuery = `SELECT kind, payload, attempts, lease_until IS NOT NULL, sent_at IS NOT NULL OR gave_up_at IS NOT NULL
	FROM outbox ORDER BY created_at, id`

// sqliteOutbox reads the outbox of a copy of the SQLite files in dir as a
// killed process left them, so that the next instance, not this test,
// recovers the originals.
func sqliteOutbox(t *testing.T, dir string) []outboxRow {
	t.Helper()
	cp := t.TempDir()
	for _, name := range []string{"baton.db", "baton.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if os.IsNotExist(err) && name != "baton.db" {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cp, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", filepath.Join(cp, "baton.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(outboxQuery)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	return scanOutbox(t, rows)
}

func pgOutbox(t *testing.T, url string) []outboxRow {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, asURL(t, url))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, outboxQuery)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	return scanOutbox(t, rows)
}

// scanOutbox reads the rows of outboxQuery (sql.Rows or pgx.Rows).
func scanOutbox(t *testing.T, rows interface {
	Next() bool
	Scan(...any) error
	Err() error
}) []outboxRow {
	t.Helper()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		var payload []byte
		if err := rows.Scan(&r.Kind, &payload, &r.Attempts, &r.Leased, &r.Done); err != nil {
			t.Fatal(err)
		}
		if r.Kind == "mail" {
			var p struct{ Template string }
			if err := json.Unmarshal(payload, &p); err != nil {
				t.Fatalf("outbox payload: %v", err)
			}
			r.Template = p.Template
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantOutbox fails unless the outbox holds exactly want, in order.
func wantOutbox(t *testing.T, st crashStore, when string, want ...outboxRow) {
	t.Helper()
	got := st.outbox(t)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("outbox %s:\n got %v\nwant %v", when, got, want)
	}
}

// mailEnvFor is the configuration of an instance whose relay is at addr.
func mailEnvFor(st crashStore, addr string) []string {
	return append([]string{"BATON_SMTP_URL=smtp+plain://" + addr, "BATON_MAIL_FROM=noreply@baton.test"}, st.env...)
}

// killedAfterFailedDelivery: the relay is down; the verification message
// of the registration and then the reset message fail once each; kill -9;
// the relay comes up on the same port; after a restart both arrive, each
// once, at their retry.
func killedAfterFailedDelivery(t *testing.T, st crashStore) {
	addr := smtptest.DownAddr(t)
	env := mailEnvFor(st, addr)
	p := startBaton(t, env...)
	registerWithEmail(t, p)
	awaitCounter(t, p, `baton_mail_deliveries_total{outcome="retry"}`, 1) // the verification message
	forgot(t, p)
	awaitCounter(t, p, `baton_mail_deliveries_total{outcome="retry"}`, 2) // and the reset message
	kill(t, p)
	wantOutbox(t, st, "after the kill",
		outboxRow{Kind: "mail", Template: "verify-email", Attempts: 1},
		outboxRow{Kind: "password_forgot", Done: true},
		outboxRow{Kind: "mail", Template: "reset-password", Attempts: 1})

	// Both are due at their first back-off (10 s) after their failure.
	q, relay, tokens := restartWithRelay(t, env, addr, 2, 15*time.Second)
	if !strings.HasPrefix(tokens[0], "bve_") && !strings.HasPrefix(tokens[1], "bve_") {
		t.Fatalf("no verification message among %v", tokens)
	}
	finishReset(t, env, q, relay, 2, tokens)
}

// killedBeforeTheJobRan: the relay accepts connections but never speaks,
// so the one dispatcher of the instance is stuck sending the verification
// message (for its 15 s timeout) when the forgot-password request comes:
// the kill -9 right after the 202 lands before the request was resolved,
// every time. After the restart, with a working relay on that port, the
// request is resolved and its message sent at once; the verification
// message stays held by the dead instance's lease (2 minutes).
func killedBeforeTheJobRan(t *testing.T, st crashStore) {
	tarpit, connected := startTarpit(t)
	addr := tarpit.Addr().String()
	env := mailEnvFor(st, addr)
	p := startBaton(t, env...)
	registerWithEmail(t, p)
	select {
	case <-connected:
	case <-time.After(5 * time.Second):
		t.Fatalf("the dispatcher never connected to the relay\n%s", p.Logs())
	}
	forgot(t, p)
	kill(t, p)
	// The premise, checked: the request is stored and was never claimed;
	// the verification message is held mid-send.
	wantOutbox(t, st, "after the kill",
		outboxRow{Kind: "mail", Template: "verify-email", Leased: true},
		outboxRow{Kind: "password_forgot"})
	tarpit.Close()

	q, relay, tokens := restartWithRelay(t, env, addr, 1, 5*time.Second)
	finishReset(t, env, q, relay, 1, tokens)
	// Still under the lease the killed instance took: at least once means
	// after the lease, not twice.
	wantOutbox(t, st, "at the end",
		outboxRow{Kind: "mail", Template: "verify-email", Leased: true},
		outboxRow{Kind: "password_forgot", Done: true},
		outboxRow{Kind: "mail", Template: "reset-password", Done: true},
		outboxRow{Kind: "mail", Template: "password-changed", Done: true})
}

// restartWithRelay starts a relay on addr and baton again, waits, at most
// within, until the relay holds n messages, and returns the tokens of
// their links; it logs how long the restart and the delivery took.
func restartWithRelay(t *testing.T, env []string, addr string, n int, within time.Duration) (*proc, *smtptest.Server, []string) {
	t.Helper()
	relay := smtptest.Start(t, smtptest.Options{Addr: addr})
	restart := time.Now()
	q := startBaton(t, env...)
	up := time.Since(restart)
	msgs := awaitRelay(t, relay, n, within)
	t.Logf("restarted in %v; %d message(s) at the relay %v after the restart began",
		up.Round(time.Millisecond), n, time.Since(restart).Round(time.Millisecond))
	return q, relay, linkTokens(t, msgs)
}

// finishReset checks that the n messages at the relay stay n for a while
// and across a graceful restart, then resets the password with the reset
// message's link (one of tokens) and logs in with the new one; the
// notice of the change is the next message.
func finishReset(t *testing.T, env []string, q *proc, relay *smtptest.Server, n int, tokens []string) {
	t.Helper()
	var reset string
	for _, tok := range tokens {
		if strings.HasPrefix(tok, "brs_") {
			if reset != "" {
				t.Fatalf("two reset messages: %v", tokens)
			}
			reset = tok
		}
	}
	if reset == "" {
		t.Fatalf("no reset message among %v", tokens)
	}
	time.Sleep(2 * time.Second)
	if got := len(relay.Messages()); got != n {
		t.Fatalf("relay holds %d messages 2 s later, want %d", got, n)
	}
	stop(t, q)
	q = startBaton(t, env...)
	time.Sleep(time.Second) // its pass at start, and a poll
	if got := len(relay.Messages()); got != n {
		t.Fatalf("relay holds %d messages after a graceful restart, want %d", got, n)
	}
	if st, b, err := q.post("/v1/password/reset", map[string]string{"token": reset, "new_password": "a brand new passphrase"}); err != nil || st != 204 {
		t.Fatalf("reset: %d %v %v", st, b, err)
	}
	if st, _, _ := q.post("/v1/login", map[string]string{"username": "alice", "password": testPassword}); st != 401 {
		t.Fatalf("login with the old password: %d", st)
	}
	if st, b, err := q.post("/v1/login", map[string]string{"username": "alice", "password": "a brand new passphrase"}); err != nil || st != 200 {
		t.Fatalf("login with the new password: %d %v %v", st, b, err)
	}
	msgs := awaitRelay(t, relay, n+1, 5*time.Second)
	if p, err := smtptest.Parse(msgs[n].Data); err != nil || !strings.Contains(p.Header.Get("Subject"), "password was changed") {
		t.Fatalf("message %d is not the notice: %v\n%s", n+1, err, msgs[n].Data)
	}
	stop(t, q)
}

func registerWithEmail(t *testing.T, p *proc) {
	t.Helper()
	if st, b, err := p.post("/v1/register", map[string]string{"username": "alice", "password": testPassword, "email": "alice@example.com"}); err != nil || st != 201 {
		t.Fatalf("register: %d %v %v", st, b, err)
	}
}

func forgot(t *testing.T, p *proc) {
	t.Helper()
	start := time.Now()
	if st, b, err := p.post("/v1/password/forgot", map[string]string{"email": "alice@example.com"}); err != nil || st != 202 {
		t.Fatalf("forgot: %d %v %v", st, b, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("forgot took %v; it must not wait for the relay", d)
	}
}

func kill(t *testing.T, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

func stop(t *testing.T, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, p.Logs())
	}
}

// awaitCounter scrapes p's metrics until series reaches want, a bounded
// while.
func awaitCounter(t *testing.T, p *proc, series string, want int) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	got := ""
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		res, err := http.Get(p.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if m := re.FindSubmatch(raw); m != nil {
			got = string(m[1])
		}
		if n, _ := strconv.Atoi(got); n >= want {
			if n != want {
				t.Fatalf("%s = %d, want %d", series, n, want)
			}
			return
		}
	}
	t.Fatalf("%s = %q after 5 s, want %d\n%s", series, got, want, p.Logs())
}

// awaitRelay waits, at most within, until relay holds n messages, and
// returns them; more is a failure.
func awaitRelay(t *testing.T, relay *smtptest.Server, n int, within time.Duration) []smtptest.Message {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(10 * time.Millisecond) {
		msgs := relay.Messages()
		if len(msgs) > n || len(msgs) < n && time.Now().After(deadline) {
			t.Fatalf("relay holds %d messages, want %d", len(msgs), n)
		}
		if len(msgs) == n {
			return msgs
		}
	}
}

// linkTokens returns the tokens of the messages' links.
func linkTokens(t *testing.T, msgs []smtptest.Message) []string {
	t.Helper()
	var toks []string
	for _, m := range msgs {
		if len(m.To) != 1 || m.To[0] != "alice@example.com" {
			t.Fatalf("message to %v", m.To)
		}
		_, tok := smtptest.LinkToken(t, m.Data)
		toks = append(toks, tok)
	}
	return toks
}

// startTarpit listens on loopback and accepts connections without ever
// answering: a relay that hangs. connected is told of the first
// connection. The listener and the connections close at the test's end,
// or at Close of the listener.
func startTarpit(t *testing.T) (net.Listener, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{})
	var (
		mu    sync.Mutex
		conns []net.Conn
		once  sync.Once
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				mu.Lock()
				for _, c := range conns {
					c.Close()
				}
				mu.Unlock()
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			once.Do(func() { close(connected) })
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln, connected
}
