// Command baton is the baton authentication server and its admin tool. It
// only wires packages together; the work happens in server, session,
// httpapi and the stores.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/batonauth/baton/config"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/server"
)

const usage = `baton — access and refresh tokens done right.

Usage:
  baton serve                          start the server (embedded SQLite store unless BATON_DATABASE_URL is set)
  baton migrate                        create or upgrade the store's schema, then exit
  baton version                        print version and build information

  baton users add USERNAME --password-stdin
  baton users list [--limit N] [--after NAME]
  baton users show USER
  baton users lock USER                lock the account and revoke its sessions
  baton users unlock USER
  baton users delete USER              revoke every session and delete the account
  baton users set-password USER --password-stdin
                                       replace the password and revoke every session
  baton sessions list --user NAME      the user's live sessions (--user-id ID: by id)
  baton sessions revoke ID             revoke one session
  baton sessions revoke-all --user NAME
  baton audit tail [-n N] [--follow]   the newest audit events; --follow keeps printing new ones
  baton keys list                      signing keys (and HMAC keys) with their state
  baton keys rotate [--prepublish 10m] add a signing key: published now, signing after the delay
  baton keys retire ID [--force]       stop signing with a key; it stays published until its tokens expired
  baton keys reseal [--old-key-stdin]  re-seal every key from the old master key (BATON_MASTER_KEY_OLD
                                       or standard input) to BATON_MASTER_KEY, in one transaction
  baton clients add NAME --redirect-uri URI... [--public] [--first-party]
        [--post-logout-redirect-uri URI...] [--backchannel-logout-uri URI]
        [--scopes a,b] [--grant-types a,b] [--id-token-alg RS256|ES256|EdDSA]
        [--access-ttl D] [--refresh-ttl D] [--refresh-idle-ttl D] [--require-par]
                                       register an OpenID client: prints its client_id and,
                                       unless --public, its secret (shown once)
  baton clients list [--limit N] [--after ID]
  baton clients show ID                a client's registration (never its secret)
  baton clients update ID [flags]      change a client's registration (the flags of add, --name)
  baton clients delete ID              delete a client and revoke every session issued to it
  baton clients rotate-secret ID       a new secret for a confidential client (the old one stops working)
  baton mail test --to ADDRESS         send a test message through BATON_SMTP_URL and say how the relay answered

  baton help                           show this help; "baton COMMAND -h" shows a command's flags

USER is a username, or "--id ID" for a user id (a username is never taken
for an id). Passwords are read from standard input
(--password-stdin: the first line), never from the command line.
Admin commands print aligned tables; --json prints JSON instead (audit tail
prints one JSON object per line). They work on the same store as the server
(BATON_DATA_DIR or BATON_DATABASE_URL) and may run while it serves: it sees
revocations within a second, key changes at its next key reload (30s), and
clients at once.

Exit codes:
  0  success
  1  failure (store unreachable, weak password, username taken, …)
  2  usage error (unknown command, bad flag, missing argument)
  3  not found (no such user, session, key or client)

Configuration comes from BATON_* environment variables; see the README.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runWith(ctx, args(), os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func args() []string { return os.Args[1:] }

// run is main without process globals, so tests can call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, getenv, os.Stdin, stdout, stderr)
}

// runWith is run with an explicit standard input (for --password-stdin).
func runWith(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if len(args) > 1 && isHelp(args[1]) {
		if h, ok := commandHelp[args[0]]; ok {
			fmt.Fprint(stdout, h)
			return 0
		}
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	case "version", "--version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "serve":
		return serve(ctx, getenv, stderr)
	case "migrate":
		return migrate(ctx, getenv, stdout, stderr)
	case "users", "sessions", "audit", "keys", "clients":
		return adminCommand(ctx, args[0], args[1:], &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr})
	case "mail":
		return mailCommand(ctx, args[1:], &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr})
	}
	fmt.Fprintf(stderr, "baton: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "-help" || a == "help" }

// commandHelp is the -h text of the commands without flags of their own.
var commandHelp = map[string]string{
	"serve": `Usage: baton serve

Start the server. It takes no flags: configuration comes from BATON_*
environment variables (see the README). Without BATON_DATABASE_URL it uses
the embedded SQLite store in BATON_DATA_DIR, creating the directory, the
schema and the keys on first start. SIGTERM or SIGINT shuts it down
gracefully: requests in flight finish, the audit log is flushed, exit 0.
With BATON_ADMIN_ADDR set, /metrics is served on that address only.

Exit codes: 0 clean shutdown, 1 failure, 2 configuration error.
`,
	"migrate": `Usage: baton migrate

Create or upgrade the store's schema (BATON_DATA_DIR or BATON_DATABASE_URL),
then exit. The server also migrates on start.

Exit codes: 0 success, 1 failure, 2 configuration error.
`,
	"version": `Usage: baton version

Print the version, the Go version, the platform and the VCS revision the
binary was built from.
`,
}

func newLogger(w io.Writer) *slog.Logger {
	// JSON for machines, text on a terminal.
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(w, nil))
		}
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

func loadConfig(getenv func(string) string, stderr io.Writer) (*config.Config, bool) {
	cfg, err := config.Load(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "baton: configuration: %v\n", err)
		return nil, false
	}
	return cfg, true
}

func serve(ctx context.Context, getenv func(string) string, stderr io.Writer) int {
	cfg, ok := loadConfig(getenv, stderr)
	if !ok {
		return 2
	}
	log := newLogger(stderr)
	// Defaults that gave way to the operator's values are worth knowing:
	// an idle lifetime of 1h where 168h was expected is not a surprise then.
	for _, n := range cfg.Notes {
		log.Info("configuration: a default adapted", "note", n)
	}
	// Up to one argon2id hash per core may run at once; one more P than
	// cores lets the scheduler keep serving refreshes and protected calls
	// while a login flood holds every hash slot (measured: GET /v1/me p99
	// during a flood 36–89 ms → 14–29 ms). An explicit GOMAXPROCS wins.
	if getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
	}
	setGCPercent(getenv, setMemoryLimit(getenv))
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		log.Error("listen failed", "addr", cfg.Addr, "err", err)
		return 1
	}
	defer ln.Close()
	// A default issuer names the address actually bound, so port 0 (any
	// free port) yields a usable issuer and Origin checks work.
	if getenv("BATON_ISSUER") == "" {
		scheme := "http"
		if cfg.TLSCert != "" {
			scheme = "https"
		}
		cfg.Issuer = scheme + "://" + ln.Addr().String()
		if getenv("BATON_AUDIENCE") == "" {
			cfg.Audience = cfg.Issuer
		}
	}
	srv, err := server.New(ctx, cfg, server.Options{Logger: log, Demo: demoHandler(), Version: version()})
	if err != nil {
		log.Error("start-up failed", "err", err)
		return 1
	}
	defer srv.Close()
	store := "sqlite:" + cfg.DataDir
	if cfg.DatabaseURL != "" {
		store = "postgres"
	}
	switch {
	case cfg.MasterKey == nil && cfg.CookieSecure:
		log.Warn("BATON_MASTER_KEY is not set: the server's keys are stored unencrypted")
	case cfg.MasterKey == nil:
		log.Info("development mode (BATON_COOKIE_SECURE=false): keys are stored unencrypted")
	}
	if cfg.AdminAddr != "" {
		aln, err := net.Listen("tcp", cfg.AdminAddr)
		if err != nil {
			log.Error("listen failed", "addr", cfg.AdminAddr, "err", err)
			return 1
		}
		log.Info("baton admin listening", "admin_addr", aln.Addr().String())
		actx, cancelAdmin := context.WithCancel(ctx)
		adminDone := make(chan struct{})
		go func() {
			defer close(adminDone)
			if err := srv.ServeAdmin(actx, aln); err != nil {
				log.Error("admin listener failed", "err", err)
			}
		}()
		defer func() { cancelAdmin(); <-adminDone }()
	}
	log.Info("baton listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer, "store", store, "version", version())
	if err := srv.Serve(ctx, ln); err != nil {
		log.Error("server failed", "err", err)
		return 1
	}
	log.Info("baton stopped")
	return 0
}

// memoryMargin is what the server needs beside the password hashes: its
// live heap under load is 1–2 MB (measured with gctrace during a login
// flood and 64-client refreshes), the rest covers stacks, runtime metadata
// and a hash's buffer in the moment between the hash and its collection
// (password.Hasher collects the buffers before the slots are free). So a
// login flood stays below the limit, and nothing is handed back to the OS
// only to be faulted in again; before, the heap grew into the limit
// between collections and the scavenger did exactly that, halving logins
// a second on two cores (BENCHMARKS.md).
const memoryMargin = 32 << 20

// setMemoryLimit gives the Go runtime a soft memory limit sized from the
// worst case of the password hasher, unless the operator set GOMEMLIMIT
// (which the runtime has already applied). Each argon2id hash allocates
// its own buffer (19 MiB), at most one per core runs at once, and the
// hasher collects the buffers as hashes end (on up to 7 cores after each),
// so a flood of logins needs password.HeapBound; the limit bounds what
// else could grow the heap, GOGC being 400 under it (gcPercent). It
// returns the limit in force.
func setMemoryLimit(getenv func(string) string) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	limit := password.HeapBound(password.DefaultParams, runtime.NumCPU()) + memoryMargin
	debug.SetMemoryLimit(limit)
	return limit
}

// gcPercent is the collector's GOGC under a memory limit. A refresh
// allocates ~20 KB and keeps none of it, so with the default 100 and a
// live heap of a few MB the collector ran every few hundred refreshes: 6-8 %
// of the server's CPU, and its assists fell on requests. At 400, alternated
// on two cores (bench -scenario refresh -store postgres), the server's CPU
// per refresh fell from 184-282 to 165-197 µs and refreshes per second rose
// 5-35 % at 16 and 64 clients, peak RSS 35 -> 48 MB; after a login flood
// RSS was the same (86.5 vs 86.8 MB), since there the memory limit (now
// the hasher's own collections), not GOGC, decides when to collect.
const gcPercent = 400

// setGCPercent sets GOGC to gcPercent unless the operator set GOGC, or
// there is no memory limit (limit, as setMemoryLimit returned it) to bound
// the larger heap.
func setGCPercent(getenv func(string) string, limit int64) {
	if getenv("GOGC") == "" && limit != math.MaxInt64 {
		debug.SetGCPercent(gcPercent)
	}
}

func migrate(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, ok := loadConfig(getenv, stderr)
	if !ok {
		return 2
	}
	store, err := server.OpenStore(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "baton migrate: %v\n", err)
		return 1
	}
	defer store.Close()
	fmt.Fprintln(stdout, "schema is up to date")
	return 0
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "baton (devel)"
	}
	s := fmt.Sprintf("baton %s %s", version(), bi.GoVersion)
	var goos, goarch string
	for _, st := range bi.Settings {
		switch st.Key {
		case "GOOS":
			goos = st.Value
		case "GOARCH":
			goarch = st.Value
		}
	}
	if goos != "" && goarch != "" {
		s += " " + goos + "/" + goarch
	}
	for _, st := range bi.Settings {
		if st.Key == "vcs.revision" || st.Key == "vcs.time" || st.Key == "vcs.modified" {
			s += " " + st.Key + "=" + st.Value
		}
	}
	return s
}
