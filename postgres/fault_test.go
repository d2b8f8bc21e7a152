package postgres

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/postgres/pgtest"
	"github.com/jackc/pgx/v5"
)

// fault breaks a store's connections on demand.
type fault interface {
	// inject breaks the connections and returns how many it broke.
	inject() int
	// drain waits until the server backends of every broken connection
	// have exited. A statement the server received before its client
	// vanished still runs to its end, and may commit, after the client got
	// its error; only once the backend is gone is the outcome final.
	drain()
}

// TestBackendsTerminated kills every backend of the store's pool, again and
// again, while workers rotate, read and revoke: the server says FATAL
// 57P01 and closes the connection.
func TestBackendsTerminated(t *testing.T) {
	db, url := newDB(t)
	faultWorkload(t, db, &terminator{t: t, admin: adminConn(t, url)})
}

// TestNetworkCut resets every connection of the store's pool at the TCP
// level (no goodbye from the server, half-sent queries, lost answers),
// again and again, while workers rotate, read and revoke.
func TestNetworkCut(t *testing.T) {
	url := pgtest.NewDatabase(t)
	p := startProxy(t, url)
	db := mustOpen(t, p.url)
	faultWorkload(t, db, p)
}

// faultWorkload runs workers that rotate, read and revoke while inject
// breaks the store's connections (returning how many), eight times. Every
// call must either succeed or return EUnavailable (never another code,
// never a panic), every rotation must be all-or-nothing, and the pool must
// recover once the faults stop.
func faultWorkload(t *testing.T, db *DB, f fault) {
	ctx := context.Background()
	mustUser(t, db, "u")

	var (
		mu   sync.Mutex
		bad  []string
		fail = func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			if len(bad) < 20 {
				bad = append(bad, fmt.Sprintf(format, args...))
			}
		}
		calls, unavailable atomic.Int64
	)
	// check accepts nil and EUnavailable and records anything else.
	check := func(op string, err error) bool {
		calls.Add(1)
		switch baton.ErrorCode(err) {
		case "":
			return true
		case baton.EUnavailable:
			unavailable.Add(1)
			return false
		}
		fail("%s: got %v, want nil or EUnavailable", op, err)
		return false
	}
	// settle retries a read until the database answers it.
	settle := func(fn func() error) error {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := fn()
			if baton.ErrorCode(err) != baton.EUnavailable || time.Now().After(deadline) {
				return err
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	const workers = 6
	for w := range workers {
		sid := fmt.Sprintf("chain-%d", w)
		mustSession(t, db, "u", sid, hashN(sid, 0))
		wg.Go(func() {
			cur := 0
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				now := t0.Add(time.Duration(i) * time.Millisecond)
				err := db.Rotate(ctx, rotation(sid, hashN(sid, cur), hashN(sid, cur+1), now))
				if check("Rotate", err) {
					cur++
				} else if baton.ErrorCode(err) == baton.EUnavailable {
					// The outcome is unknown: find out which, and check the
					// rotation happened entirely or not at all.
					f.drain()
					var next *baton.RefreshToken
					err := settle(func() (err error) { next, _, err = db.RefreshToken(ctx, hashN(sid, cur+1)); return err })
					switch baton.ErrorCode(err) {
					case "":
						cur++
					case baton.ENotFound:
						var old *baton.RefreshToken
						if err := settle(func() (err error) { old, _, err = db.RefreshToken(ctx, hashN(sid, cur)); return err }); err != nil {
							fail("RefreshToken(old): %v", err)
							return
						}
						if !old.SpentAt.IsZero() {
							fail("rotation %s/%d half applied: old token spent, new token missing", sid, cur)
							return
						}
					default:
						fail("RefreshToken(new): %v", err)
						return
					}
					_ = next
				}
				_, _, err = db.RefreshToken(ctx, hashN(sid, cur))
				check("RefreshToken", err)
				_, err = db.UserByID(ctx, "u")
				check("UserByID", err)
				_, err = db.Sessions(ctx, "u", t0, baton.SessionPage{Limit: 100})
				check("Sessions", err)
				check("AppendAudit", db.AppendAudit(ctx, &baton.AuditEvent{Time: now, Type: "refresh", SessionID: sid}))
				if i%10 == 0 {
					tmp := fmt.Sprintf("tmp-%d-%d", w, i)
					err := db.CreateSession(ctx, newSession("u", tmp), hashOf(tmp))
					if check("CreateSession", err) {
						_, err := db.RevokeSession(ctx, tmp, baton.Revoke{Now: now, Until: now.Add(time.Hour), Reason: baton.ReasonLogout})
						check("RevokeSession", err)
					}
				}
			}
		})
	}

	kills := 0
	for range 8 {
		time.Sleep(100 * time.Millisecond)
		kills += f.inject()
	}
	close(stop)
	wg.Wait()
	t.Logf("%d calls, %d EUnavailable, %d connections broken", calls.Load(), unavailable.Load(), kills)
	for _, b := range bad {
		t.Error(b)
	}
	if kills == 0 || unavailable.Load() == 0 {
		t.Errorf("the fault was not exercised: %d kills, %d EUnavailable", kills, unavailable.Load())
	}

	// Recovery: with every pooled connection dead, each dead one fails at
	// most one call; then the pool has fresh connections and calls succeed.
	f.inject()
	failures := 0
	for ok := 0; ok < 20; {
		var err error
		if ok%2 == 0 {
			_, err = db.UserByID(ctx, "u")
		} else {
			err = db.AppendAudit(ctx, &baton.AuditEvent{Time: t0, Type: "probe"})
		}
		switch {
		case err == nil:
			ok++
		case ok > 0:
			t.Fatalf("call after the pool recovered: %v", err)
		default:
			wantCode(t, err, baton.EUnavailable)
			if failures++; failures > int(db.pool.Config().MaxConns)+1 {
				t.Fatalf("pool did not recover: %d failed calls, last %v", failures, err)
			}
		}
	}
}

// proxy forwards TCP connections to the database server and can cut them
// all at once, as a failing network or a crashed server would.
type proxy struct {
	url string // the database URL through the proxy
	ln  net.Listener

	admin *pgx.Conn // direct, for drain

	mu    sync.Mutex
	conns []net.Conn
	cut   []int32 // client ports, as the server sees them, of cut connections
}

func startProxy(t *testing.T, dbURL string) *proxy {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	target := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, admin: adminConn(t, dbURL)}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if u, err := url.Parse(dbURL); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Host = ln.Addr().String()
		p.url = u.String()
	} else {
		p.url = dbURL + " host=" + host + " port=" + port
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.inject()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, client, server)
			p.mu.Unlock()
			wg.Go(func() { io.Copy(server, client); server.Close() })
			wg.Go(func() { io.Copy(client, server); client.Close() })
		}
	})
	return p
}

// inject resets every proxied connection and returns how many it cut. The
// server backends see their clients vanish.
func (p *proxy) inject() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, c := range p.conns {
		if i%2 == 1 { // the proxy's end of a connection to the server
			p.cut = append(p.cut, int32(c.LocalAddr().(*net.TCPAddr).Port))
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // reset, not an orderly close
		}
		c.Close()
	}
	n := len(p.conns) / 2
	p.conns = nil
	return n
}

func (p *proxy) drain() {
	p.mu.Lock()
	defer p.mu.Unlock()
	waitGone(p.admin, `client_port = ANY($1)`, p.cut)
}

// terminator ends the store's backends with pg_terminate_backend.
type terminator struct {
	t     *testing.T
	admin *pgx.Conn

	mu   sync.Mutex
	pids []int32 // terminated backends
}

func (k *terminator) inject() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	// MATERIALIZED: the filter must run before pg_terminate_backend does.
	rows, _ := k.admin.Query(context.Background(), `WITH store AS MATERIALIZED (
		SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'baton' AND pid <> pg_backend_pid()
	)
	SELECT pid FROM store WHERE pg_terminate_backend(pid)`)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		k.t.Errorf("terminate: %v", err)
	}
	k.pids = append(k.pids, pids...)
	return len(pids)
}

func (k *terminator) drain() {
	k.mu.Lock()
	defer k.mu.Unlock()
	waitGone(k.admin, `pid = ANY($1)`, k.pids)
}

// waitGone waits up to 10 s until no backend of the database matches
// where (with $1 = ids).
func waitGone(admin *pgx.Conn, where string, ids []int32) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		err := admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND `+where, ids).Scan(&n)
		if err != nil || n == 0 {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}
