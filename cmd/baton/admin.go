package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/admin"
	"github.com/batonauth/baton/audit"
	"github.com/batonauth/baton/config"
	"github.com/batonauth/baton/seal"
	"github.com/batonauth/baton/server"
	bsession "github.com/batonauth/baton/session"
)

// Exit codes of the admin commands (documented in usage).
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitNotFound = 3
)

// env is a command's view of the process.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// usageError is a command-line mistake: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// adminCmd is one `baton GROUP NAME` command.
type adminCmd struct {
	name, args, help string
	// flags declares the command's flags on fs; run then does the work.
	flags func(fs *flag.FlagSet) func(ctx context.Context, a *adminRun, args []string) error
}

// storeOnly commands run without the session engine (a.admin and a.svc are
// nil): `keys reseal`, because the engine cannot start while the stored
// keys are sealed under another master key.
var storeOnlyCmds = map[string]bool{"keys reseal": true}

// adminRun is an open admin session: the store, the engine, the audit
// writer and the output settings.
type adminRun struct {
	*env
	admin *admin.Admin
	svc   *bsession.Service
	json  bool
	// cfg, store and opt serve storeOnly commands.
	cfg   *config.Config
	store baton.Store
	opt   admin.Options
}

var adminGroups = map[string][]adminCmd{
	"users": {
		{"add", "USERNAME --password-stdin [--email ADDRESS]", "register a user (same rules as POST /v1/register)", usersAdd},
		{"list", "[--limit N] [--after NAME]", "list users by username", usersList},
		{"show", "USERNAME | --id ID", "show a user and their live sessions", usersShow},
		{"lock", "USERNAME | --id ID", "lock the account and revoke every session: no login, no refresh", usersLock(true)},
		{"unlock", "USERNAME | --id ID", "let a locked user log in again", usersLock(false)},
		{"delete", "USERNAME | --id ID", "revoke every session and delete the account (the username is free again)", usersDelete},
		{"set-password", "USERNAME | --id ID --password-stdin", "replace the password and revoke every session", usersSetPassword},
		{"set-email", "(USERNAME | --id ID) (ADDRESS [--verified] | --remove)", "set the email address (checked as at registration; no message is sent) or remove it; sessions stay", usersSetEmail},
		{"reset-mfa", "USERNAME | --id ID", "remove every second factor (TOTP, recovery codes, passkeys) and revoke every session: the next sign-in is with the password alone", usersResetMFA},
	},
	"sessions": {
		{"list", "--user USERNAME | --user-id ID", "the user's live sessions, newest first", sessionsList},
		{"revoke", "ID", "revoke one session (its access tokens fail within a second on every server)", sessionsRevoke},
		{"revoke-all", "--user USERNAME | --user-id ID", "revoke every session of the user", sessionsRevokeAll},
	},
	"audit": {
		{"tail", "[-n N] [--follow]", "print the newest audit events; --follow keeps printing new ones until interrupted", auditTail},
	},
	"keys": {
		{"list", "", "list keys and their state (signing, pending, published, retired, secret)", keysList},
		{"rotate", "[--prepublish 10m] [--alg EdDSA|RS256|ES256]", "add a signing key: in the JWKS at once, signing after --prepublish; --alg EdDSA (default) is the Ed25519 key of access tokens and EdDSA ID tokens, RS256 and ES256 the keys of ID tokens", keysRotate},
		{"retire", "ID [--force]", "stop signing with a key; it leaves the JWKS once every token it signed expired", keysRetire},
		{"reseal", "[--old-key-stdin]", "re-seal every key from the old master key (" + oldKeyEnv + " or standard input) to BATON_MASTER_KEY in one transaction; then restart every server with the new one", keysReseal},
	},
	"clients": {
		{"add", "NAME --redirect-uri URI... [flags]", "register an OpenID client; prints its client_id and, for a confidential client, its secret (shown once: only its hash is stored)", clientsAdd},
		{"list", "[--limit N] [--after ID]", "list clients by id", clientsList},
		{"show", "ID", "show a client's registration (never its secret)", clientsShow},
		{"update", "ID [--name NAME] [flags of add]", "change a client's registration: only the flags given change; a list flag replaces its list (an empty value empties it); the secret stays", clientsUpdate},
		{"delete", "ID", "delete a client and its consents, and revoke every session issued to it", clientsDelete},
		{"rotate-secret", "ID", "give a confidential client a new secret (shown once); the old one stops working at once", clientsRotateSecret},
	},
}

func groupUsage(group string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: baton %s COMMAND [flags]\n\nCommands:\n", group)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, c := range adminGroups[group] {
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, c.args, c.help)
	}
	tw.Flush()
	b.WriteString("\nEvery command takes --json. \"baton " + group + " COMMAND -h\" shows its flags.\n" +
		"Exit codes: 0 success, 1 failure, 2 usage error, 3 not found.\n")
	return b.String()
}

func adminCommand(ctx context.Context, group string, args []string, e *env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, groupUsage(group))
		return exitUsage
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		fmt.Fprint(e.stdout, groupUsage(group))
		return exitOK
	}
	var cmd *adminCmd
	for i := range adminGroups[group] {
		if adminGroups[group][i].name == args[0] {
			cmd = &adminGroups[group][i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(e.stderr, "baton %s: unknown command %q\n\n%s", group, args[0], groupUsage(group))
		return exitUsage
	}
	name := "baton " + group + " " + cmd.name
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	jsonOut := fs.Bool("json", false, "print JSON instead of a table")
	run := cmd.flags(fs)
	printUsage := func(w io.Writer) {
		fs.SetOutput(w)
		fmt.Fprintf(w, "Usage: %s %s\n\n%s%s.\n\nFlags:\n", name, cmd.args, strings.ToUpper(cmd.help[:1]), cmd.help[1:])
		fs.PrintDefaults()
		fmt.Fprint(w, "\nExit codes: 0 success, 1 failure, 2 usage error, 3 not found.\n")
	}
	fs.Usage = func() {} // printed below, to stdout for -h
	rest, err := parseInterspersed(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		printUsage(e.stdout)
		return exitOK
	} else if err != nil {
		printUsage(e.stderr) // flag has printed the error
		return exitUsage
	}
	a, closeRun, err := openAdmin(ctx, e, storeOnlyCmds[group+" "+cmd.name])
	if err != nil {
		fmt.Fprintf(e.stderr, "%s: %v\n", name, err)
		return exitCode(err)
	}
	a.json = *jsonOut
	err = run(ctx, a, rest)
	closeRun()
	if err != nil {
		fmt.Fprintf(e.stderr, "%s: %s\n", name, errorText(err))
		if _, ok := err.(*usageError); ok {
			fmt.Fprintf(e.stderr, "Usage: %s %s (see -h)\n", name, cmd.args)
		}
		return exitCode(err)
	}
	return exitOK
}

// parseInterspersed parses flags wherever they appear among the
// positional arguments (`users add alice --password-stdin`).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case baton.ErrorCode(err) == baton.ENotFound:
		return exitNotFound
	}
	return exitFailure
}

// errorText is the message for a user: the safe message of a baton error
// with its cause for internal ones.
func errorText(err error) string {
	var be *baton.Error
	if errors.As(err, &be) && be.Code != baton.EInternal && be.Code != baton.EUnavailable {
		return be.Message
	}
	return err.Error()
}

// openAdmin opens the configured store and the session engine (without its
// background work) and an audit writer; the returned func flushes the audit
// log and closes everything.
func loadConfigErr(getenv func(string) string) (*config.Config, error) { return config.Load(getenv) }

func openAdmin(ctx context.Context, e *env, storeOnly bool) (*adminRun, func(), error) {
	cfg, err := loadConfigErr(e.getenv)
	if err != nil {
		return nil, nil, &usageError{"configuration: " + err.Error()}
	}
	// Admin commands log only problems; their events go to the audit log.
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	aw := audit.NewWriter(store, audit.Options{Logger: log})
	opt := admin.Options{Observer: aw.Observe, Logger: log, Client: bsession.Client{UserAgent: "baton-cli"}}
	a := &adminRun{env: e, cfg: cfg, store: store, opt: opt}
	var svc *bsession.Service
	if !storeOnly {
		svc, err = server.NewService(ctx, cfg, store, server.ServiceOptions{Logger: log, Observer: aw.Observe})
		if err != nil {
			_ = aw.Close(ctx)
			store.Close()
			return nil, nil, err
		}
		a.svc, a.admin = svc, admin.New(svc, a.store, opt)
	}
	return a, func() {
		fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := aw.Close(fctx); err != nil {
			log.Warn("audit log not fully written", "err", err)
		}
		if svc != nil {
			svc.Close()
		}
		store.Close()
	}, nil
}

// readPassword reads the first line of standard input.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReaderSize(r, 4096).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", usagef("--password-stdin: standard input is empty")
	}
	return line, nil
}

func (a *adminRun) table(header string, rows [][]string) {
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func (a *adminRun) printJSON(v any) error {
	enc := json.NewEncoder(jsonEscaper{a.stdout})
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func oneArg(args []string, what string) (string, error) {
	if len(args) != 1 {
		return "", usagef("want exactly one %s, got %d arguments", what, len(args))
	}
	return args[0], nil
}

// Users.

type userJSON struct {
	ID            string     `json:"id"`
	Username      string     `json:"username"`
	Email         *string    `json:"email"` // null when the user has none, as in GET /v1/me
	EmailVerified bool       `json:"email_verified"`
	CreatedAt     time.Time  `json:"created_at"`
	Locked        bool       `json:"locked"`
	LockedAt      *time.Time `json:"locked_at,omitempty"`
}

func toUserJSON(u *baton.User) userJSON {
	j := userJSON{ID: u.ID, Username: u.Username, EmailVerified: u.EmailVerified, CreatedAt: u.CreatedAt, Locked: !u.LockedAt.IsZero()}
	if u.Email != "" {
		e := u.Email
		j.Email = &e
	}
	if j.Locked {
		t := u.LockedAt
		j.LockedAt = &t
	}
	return j
}

// emailText is the user's address for users show: "none", or the address
// and whether it is verified.
func emailText(u *baton.User) string {
	switch {
	case u.Email == "":
		return "none"
	case u.EmailVerified:
		return cell(u.Email, 254) + " (verified)"
	}
	return cell(u.Email, 254) + " (not verified)"
}

// userRow is a user's row in the users tables (userHeader).
func userRow(u *baton.User) []string {
	verified := "-"
	if u.Email != "" {
		verified = map[bool]string{true: "yes", false: "no"}[u.EmailVerified]
	}
	return []string{u.ID, u.Username, ts(u.CreatedAt), ts(u.LockedAt), cell(u.Email, 254), verified}
}

const userHeader = "ID\tUSERNAME\tCREATED\tLOCKED\tEMAIL\tVERIFIED"

func (a *adminRun) printUser(u *baton.User, verb string) error {
	if a.json {
		return a.printJSON(toUserJSON(u))
	}
	if verb != "" {
		fmt.Fprintf(a.stdout, "%s user %s (%s)\n", verb, u.Username, u.ID)
		return nil
	}
	a.table(userHeader, [][]string{userRow(u)})
	return nil
}

func usersAdd(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	var email *string
	fs.Func("email", "the user's email address (default: the username when it is an address)", func(v string) error {
		email = &v
		return nil
	})
	return withPassword(fs, "read the password from the first line of standard input (required)", "added",
		func(args []string) (admin.UserRef, error) {
			name, err := oneArg(args, "USERNAME")
			return admin.Username(name), err
		},
		func(ctx context.Context, a *adminRun, ref admin.UserRef, pw string) (*baton.User, error) {
			return a.admin.AddUser(ctx, bsession.RegisterRequest{Username: ref.Value, Password: pw, Email: email})
		})
}

// withPassword is a users command naming one user (parsed by arg) and
// taking a password from standard input (never from argv, where other
// users can read it).
func withPassword(fs *flag.FlagSet, help, verb string, arg func(args []string) (admin.UserRef, error),
	act func(ctx context.Context, a *adminRun, ref admin.UserRef, pw string) (*baton.User, error)) func(context.Context, *adminRun, []string) error {
	stdin := fs.Bool("password-stdin", false, help)
	return func(ctx context.Context, a *adminRun, args []string) error {
		ref, err := arg(args)
		if err != nil {
			return err
		}
		if !*stdin {
			return usagef("the password must come from standard input: pass --password-stdin")
		}
		pw, err := readPassword(a.stdin)
		if err != nil {
			return err
		}
		u, err := act(ctx, a, ref, pw)
		if err != nil {
			return err
		}
		return a.printUser(u, verb)
	}
}

func usersList(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	limit := fs.Int("limit", 1000, "list at most `N` users")
	after := fs.String("after", "", "start after this username (paging)")
	return func(ctx context.Context, a *adminRun, args []string) error {
		if len(args) != 0 {
			return usagef("unexpected argument %q", args[0])
		}
		if *limit < 1 {
			return usagef("--limit must be positive")
		}
		cursor := ""
		if *after != "" {
			_, canonical, err := bsession.NormalizeUsername(*after)
			if err != nil {
				return usagef("--after: %v", errorText(err))
			}
			cursor = canonical
		}
		us, err := a.admin.Users(ctx, cursor, *limit)
		if err != nil {
			return err
		}
		if a.json {
			out := make([]userJSON, 0, len(us))
			for _, u := range us {
				out = append(out, toUserJSON(u))
			}
			return a.printJSON(out)
		}
		rows := make([][]string, 0, len(us))
		for _, u := range us {
			rows = append(rows, userRow(u))
		}
		a.table(userHeader, rows)
		return nil
	}
}

// userArg declares --id on a users command and returns the parser of its
// arguments: a positional argument is always a username; an id needs --id.
// Guessing would let anyone who registers another user's id as a username
// be taken for that user.
func userArg(fs *flag.FlagSet) func(args []string) (admin.UserRef, error) {
	id := fs.String("id", "", "name the user by `ID` instead of by username")
	return func(args []string) (admin.UserRef, error) {
		if *id != "" {
			if len(args) != 0 {
				return admin.UserRef{}, usagef("give a USERNAME or --id, not both")
			}
			return admin.UserID(*id), nil
		}
		name, err := oneArg(args, "USERNAME (or --id ID)")
		return admin.Username(name), err
	}
}

func usersShow(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	arg := userArg(fs)
	return func(ctx context.Context, a *adminRun, args []string) error {
		ref, err := arg(args)
		if err != nil {
			return err
		}
		u, ss, err := a.admin.Sessions(ctx, ref)
		if err != nil {
			return err
		}
		_, mfa, err := a.admin.MFA(ctx, admin.UserID(u.ID))
		if err != nil {
			return err
		}
		if a.json {
			return a.printJSON(struct {
				userJSON
				MFA      mfaJSON       `json:"mfa"`
				Sessions []sessionJSON `json:"sessions"`
			}{toUserJSON(u), toMFAJSON(mfa), toSessionsJSON(ss)})
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "id:\t%s\nusername:\t%s\nemail:\t%s\ncreated:\t%s\nlocked:\t%s\n",
			u.ID, u.Username, emailText(u), ts(u.CreatedAt), ts(u.LockedAt))
		fmt.Fprintf(tw, "totp:\t%s\nrecovery codes:\t%d left\npasskeys:\t%d\nlive sessions:\t%d\n",
			totpText(mfa), mfa.RecoveryCodesLeft, mfa.Passkeys, len(ss))
		tw.Flush()
		if len(ss) > 0 {
			fmt.Fprintln(a.stdout)
			a.sessionsTable(ss)
		}
		return nil
	}
}

func usersLock(lock bool) func(*flag.FlagSet) func(context.Context, *adminRun, []string) error {
	return func(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
		arg := userArg(fs)
		return func(ctx context.Context, a *adminRun, args []string) error {
			ref, err := arg(args)
			if err != nil {
				return err
			}
			if lock {
				u, err := a.admin.Lock(ctx, ref)
				if err != nil {
					return err
				}
				return a.printUser(u, "locked (sessions revoked)")
			}
			u, err := a.admin.Unlock(ctx, ref)
			if err != nil {
				return err
			}
			return a.printUser(u, "unlocked")
		}
	}
}

func usersDelete(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	arg := userArg(fs)
	return func(ctx context.Context, a *adminRun, args []string) error {
		ref, err := arg(args)
		if err != nil {
			return err
		}
		u, err := a.admin.Delete(ctx, ref)
		if err != nil {
			return err
		}
		return a.printUser(u, "deleted")
	}
}

func usersSetPassword(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	return withPassword(fs, "read the new password from the first line of standard input (required)", "set the password of (sessions revoked)",
		userArg(fs), func(ctx context.Context, a *adminRun, ref admin.UserRef, pw string) (*baton.User, error) {
			return a.admin.SetPassword(ctx, ref, pw)
		})
}

func usersSetEmail(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	user := userArg(fs)
	verified := fs.Bool("verified", false, "mark the address verified (you vouch for it); otherwise it is unverified")
	remove := fs.Bool("remove", false, "remove the user's address instead of setting one")
	return func(ctx context.Context, a *adminRun, args []string) error {
		addr := ""
		switch {
		case *remove && *verified:
			return usagef("--remove and --verified exclude each other")
		case *remove:
		case len(args) == 0:
			return usagef("want an ADDRESS (or --remove)")
		default:
			addr, args = args[len(args)-1], args[:len(args)-1]
			if addr == "" {
				return usagef("the ADDRESS is empty: pass --remove to remove the address")
			}
		}
		ref, err := user(args)
		if err != nil {
			return err
		}
		u, err := a.admin.SetEmail(ctx, ref, addr, *verified)
		if err != nil {
			return err
		}
		if a.json {
			return a.printJSON(toUserJSON(u))
		}
		if addr == "" {
			fmt.Fprintf(a.stdout, "removed the email address of user %s (%s)\n", u.Username, u.ID)
			return nil
		}
		fmt.Fprintf(a.stdout, "set the email address of user %s (%s) to %s\n", u.Username, u.ID, emailText(u))
		return nil
	}
}

// mfaJSON is the "mfa" object of users show --json: GET /v1/me's, and
// whether a TOTP enrolment is pending.
type mfaJSON struct {
	TOTP              bool `json:"totp"`
	TOTPPending       bool `json:"totp_pending"`
	Passkeys          int  `json:"passkeys"`
	RecoveryCodesLeft int  `json:"recovery_codes_left"`
}

func toMFAJSON(m bsession.MFAStatus) mfaJSON {
	return mfaJSON{TOTP: m.TOTP, TOTPPending: m.TOTPPending, Passkeys: m.Passkeys, RecoveryCodesLeft: m.RecoveryCodesLeft}
}

// totpText is the totp line of users show.
func totpText(m bsession.MFAStatus) string {
	switch {
	case m.TOTP && m.TOTPPending:
		return "on (a new enrolment is pending)"
	case m.TOTP:
		return "on"
	case m.TOTPPending:
		return "off (pending enrolment)"
	}
	return "off"
}

// usersResetMFA removes the user's second factors and revokes every
// session. A user without any still loses their sessions and the command
// succeeds (exit 0), saying there was nothing to remove: the end state is
// the same either way, and a run cut short can simply be repeated.
func usersResetMFA(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	arg := userArg(fs)
	return func(ctx context.Context, a *adminRun, args []string) error {
		ref, err := arg(args)
		if err != nil {
			return err
		}
		u, r, err := a.admin.ResetMFA(ctx, ref)
		if err != nil {
			return err
		}
		revoked := r.Revoked
		if revoked == nil {
			revoked = []string{}
		}
		if a.json {
			return a.printJSON(map[string]any{"user_id": u.ID, "username": u.Username, "removed": toMFAJSON(r.Removed), "revoked": revoked})
		}
		if !r.Removed.Any() {
			fmt.Fprintf(a.stdout, "user %s (%s) had no second factor: nothing to remove; revoked %d session(s)\n", u.Username, u.ID, len(revoked))
			return nil
		}
		m := r.Removed
		var removed []string
		if m.TOTP {
			removed = append(removed, "TOTP")
		}
		if m.TOTPPending {
			removed = append(removed, "a pending TOTP enrolment")
		}
		removed = append(removed, fmt.Sprintf("%d recovery code(s)", m.RecoveryCodesLeft), fmt.Sprintf("%d passkey(s)", m.Passkeys))
		fmt.Fprintf(a.stdout, "reset the second factors of user %s (%s): removed %s; revoked %d session(s)\n",
			u.Username, u.ID, strings.Join(removed, ", "), len(revoked))
		return nil
	}
}

// Sessions.

type sessionJSON struct {
	ID            string    `json:"id"`
	UserID        string    `json:"user_id"`
	CreatedAt     time.Time `json:"created_at"`
	LastUsedAt    time.Time `json:"last_used_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	IdleExpiresAt time.Time `json:"idle_expires_at"`
	Transport     string    `json:"transport"`
	ClientID      string    `json:"client_id"`
	IP            string    `json:"ip"`
	UserAgent     string    `json:"user_agent"`
}

func toSessionsJSON(ss []*baton.Session) []sessionJSON {
	out := make([]sessionJSON, 0, len(ss))
	for _, s := range ss {
		out = append(out, sessionJSON{ID: s.ID, UserID: s.UserID, CreatedAt: s.CreatedAt, LastUsedAt: s.LastUsedAt,
			ExpiresAt: s.ExpiresAt, IdleExpiresAt: s.IdleExpiresAt, Transport: s.Transport, ClientID: s.ClientID,
			IP: s.IP, UserAgent: s.UserAgent})
	}
	return out
}

func (a *adminRun) sessionsTable(ss []*baton.Session) {
	rows := make([][]string, 0, len(ss))
	for _, s := range ss {
		rows = append(rows, []string{s.ID, ts(s.CreatedAt), ts(s.LastUsedAt), ts(s.IdleExpiresAt), ts(s.ExpiresAt), cell(s.IP, 45), cell(s.UserAgent, 40)})
	}
	a.table("SESSION\tCREATED\tLAST USED\tIDLE EXPIRES\tEXPIRES\tIP\tUSER AGENT", rows)
}

// userFlag declares --user and --user-id on a sessions command and returns
// the parser of its arguments (a lone positional argument is taken as
// --user). As with userArg, a username is never taken for an id.
func userFlag(fs *flag.FlagSet) func(args []string) (admin.UserRef, error) {
	name := fs.String("user", "", "the user's `USERNAME`")
	id := fs.String("user-id", "", "the user's `ID`, instead of --user")
	return func(args []string) (admin.UserRef, error) {
		if *name == "" && *id == "" && len(args) == 1 {
			return admin.Username(args[0]), nil
		}
		switch {
		case len(args) != 0:
			return admin.UserRef{}, usagef("unexpected argument %q", args[0])
		case *name != "" && *id != "":
			return admin.UserRef{}, usagef("give --user or --user-id, not both")
		case *id != "":
			return admin.UserID(*id), nil
		case *name != "":
			return admin.Username(*name), nil
		}
		return admin.UserRef{}, usagef("--user or --user-id is required")
	}
}

func sessionsList(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	user := userFlag(fs)
	return func(ctx context.Context, a *adminRun, args []string) error {
		ref, err := user(args)
		if err != nil {
			return err
		}
		_, ss, err := a.admin.Sessions(ctx, ref)
		if err != nil {
			return err
		}
		if a.json {
			return a.printJSON(toSessionsJSON(ss))
		}
		a.sessionsTable(ss)
		return nil
	}
}

func sessionsRevoke(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	return func(ctx context.Context, a *adminRun, args []string) error {
		id, err := oneArg(args, "session ID")
		if err != nil {
			return err
		}
		ok, err := a.admin.RevokeSession(ctx, id)
		if baton.ErrorCode(err) == baton.ENotFound {
			return baton.Errorf(baton.ENotFound, "no session %q", id)
		} else if err != nil {
			return err
		}
		if a.json {
			return a.printJSON(map[string]any{"session_id": id, "revoked": ok, "already_revoked": !ok})
		}
		if ok {
			fmt.Fprintf(a.stdout, "revoked session %s\n", id)
		} else {
			fmt.Fprintf(a.stdout, "session %s was already revoked\n", id)
		}
		return nil
	}
}

func sessionsRevokeAll(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	user := userFlag(fs)
	return func(ctx context.Context, a *adminRun, args []string) error {
		ref, err := user(args)
		if err != nil {
			return err
		}
		u, ids, err := a.admin.RevokeAll(ctx, ref)
		if err != nil {
			return err
		}
		if ids == nil {
			ids = []string{}
		}
		if a.json {
			return a.printJSON(map[string]any{"user_id": u.ID, "revoked": ids})
		}
		fmt.Fprintf(a.stdout, "revoked %d session(s) of %s\n", len(ids), u.Username)
		for _, id := range ids {
			fmt.Fprintln(a.stdout, id)
		}
		return nil
	}
}

// Audit.

type auditJSON struct {
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	Type      string    `json:"type"`
	Outcome   string    `json:"outcome"`
	UserID    string    `json:"user_id,omitempty"`
	SessionID string    `json:"session_id,omitempty"`
	IP        string    `json:"ip,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

func auditTail(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	n := fs.Int("n", 20, "print the newest `N` events")
	follow := fs.Bool("follow", false, "keep printing new events until interrupted")
	fs.BoolVar(follow, "f", false, "short for --follow")
	interval := fs.Duration("interval", 500*time.Millisecond, "with --follow, how often to poll the store")
	return func(ctx context.Context, a *adminRun, args []string) error {
		if len(args) != 0 {
			return usagef("unexpected argument %q", args[0])
		}
		if *n < 0 || *n > 100000 {
			return usagef("-n must be between 0 and 100000")
		}
		var last int64
		if *n > 0 {
			es, err := a.admin.Audit(ctx, 0, *n)
			if err != nil {
				return err
			}
			last = a.printAudit(es, true, last)
		} else if *follow {
			es, err := a.admin.Audit(ctx, 0, 1)
			if err != nil {
				return err
			}
			if len(es) > 0 {
				last = es[0].Seq
			}
		}
		if !*follow {
			return nil
		}
		t := time.NewTicker(*interval)
		defer t.Stop()
		header := last == 0
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			for {
				es, err := a.admin.Audit(ctx, last, 1000)
				if ctx.Err() != nil {
					return nil
				}
				if err != nil {
					return err
				}
				// With last == 0 (the log was empty) this asked for the
				// newest events: all of them, unless over 1000 arrived
				// between two polls.
				last = a.printAudit(es, header, last)
				if len(es) > 0 {
					header = false
				}
				if len(es) < 1000 {
					break
				}
			}
		}
	}
}

// printAudit prints events and returns the last sequence number printed.
func (a *adminRun) printAudit(es []*baton.AuditEvent, header bool, last int64) int64 {
	if len(es) == 0 {
		return last
	}
	if a.json {
		enc := json.NewEncoder(jsonEscaper{a.stdout})
		for _, e := range es {
			_ = enc.Encode(auditJSON{Seq: e.Seq, Time: e.Time, Type: e.Type, Outcome: e.Outcome, UserID: e.UserID,
				SessionID: e.SessionID, IP: e.IP, UserAgent: e.UserAgent, Detail: e.Detail})
		}
		return es[len(es)-1].Seq
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	if header {
		fmt.Fprintln(tw, "SEQ\tTIME\tEVENT\tOUTCOME\tUSER\tSESSION\tIP\tDETAIL")
	}
	for _, e := range es {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.UTC().Format("2006-01-02T15:04:05.000Z"),
			cell(e.Type, 40), cell(e.Outcome, 40), cell(e.UserID, 40), cell(e.SessionID, 40), cell(e.IP, 45), cell(e.Detail, 200))
	}
	tw.Flush()
	return es[len(es)-1].Seq
}

// Keys.

func (a *adminRun) keysTable(ks []admin.KeyInfo) {
	rows := make([][]string, 0, len(ks))
	for _, k := range ks {
		rows = append(rows, []string{k.ID, k.Use, k.Algorithm, k.State, ts(k.CreatedAt), ts(k.ActivateAt), ts(k.RetiredAt), ts(k.RemoveAfter)})
	}
	a.table("ID\tUSE\tALG\tSTATE\tCREATED\tSIGNS FROM\tRETIRED\tUNPUBLISHED AFTER", rows)
}

func keysList(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	return func(ctx context.Context, a *adminRun, args []string) error {
		if len(args) != 0 {
			return usagef("unexpected argument %q", args[0])
		}
		ks, err := a.admin.Keys(ctx)
		if err != nil {
			return err
		}
		if a.json {
			return a.printJSON(ks)
		}
		a.keysTable(ks)
		return nil
	}
}

// defaultPrepublish must stay above the JWKS max-age (5m, httpapi) plus a
// key-reload interval, so resource servers have the key before it signs.
const defaultPrepublish = 10 * time.Minute

func keysRotate(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	pre := fs.Duration("prepublish", defaultPrepublish,
		"publish the new key this long before it signs; keep it above the JWKS max-age (5m) plus the key-reload interval (30s)")
	alg := fs.String("alg", baton.AlgEdDSA, "the key's algorithm: EdDSA (access tokens and EdDSA ID tokens), RS256 or ES256 (ID tokens)")
	return func(ctx context.Context, a *adminRun, args []string) error {
		if len(args) != 0 {
			return usagef("unexpected argument %q", args[0])
		}
		if *pre < 0 {
			return usagef("--prepublish must not be negative")
		}
		if *alg != baton.AlgEdDSA && *alg != baton.AlgRS256 && *alg != baton.AlgES256 {
			return usagef("--alg must be EdDSA, RS256 or ES256")
		}
		k, err := a.admin.RotateKeyFor(ctx, *alg, *pre)
		if err != nil {
			return err
		}
		if a.json {
			return a.printJSON(k)
		}
		fmt.Fprintf(a.stdout, "new %s signing key %s: published at each server's next key reload (within %s), signs from %s (at the first key reload after that)\n",
			k.Algorithm, k.ID, a.svc.Config().KeyReloadInterval, ts(k.ActivateAt))
		return nil
	}
}

func keysRetire(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	force := fs.Bool("force", false, "retire even when no other signing key is active yet")
	return func(ctx context.Context, a *adminRun, args []string) error {
		id, err := oneArg(args, "key ID")
		if err != nil {
			return err
		}
		k, err := a.admin.RetireKey(ctx, id, *force)
		if err != nil {
			return err
		}
		if a.json {
			return a.printJSON(k)
		}
		fmt.Fprintf(a.stdout, "retired signing key %s: it stops signing at each server's next key reload and leaves the JWKS after %s\n",
			k.ID, ts(k.RemoveAfter))
		return nil
	}
}

// oldKeyEnv names the variable `keys reseal` reads the old master key from
// when it is not given on standard input.
const oldKeyEnv = "BATON_MASTER_KEY_OLD"

func keysReseal(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	stdin := fs.Bool("old-key-stdin", false, "read the old master key from the first line of standard input (else from "+oldKeyEnv+")")
	return func(ctx context.Context, a *adminRun, args []string) error {
		if len(args) != 0 {
			return usagef("unexpected argument %q", args[0])
		}
		if a.cfg.MasterKey == nil {
			return usagef("set BATON_MASTER_KEY to the new master key")
		}
		var old string
		switch env := a.getenv(oldKeyEnv); {
		case *stdin && env != "":
			return usagef("give the old master key once: --old-key-stdin or %s", oldKeyEnv)
		case *stdin:
			line, err := bufio.NewReaderSize(a.stdin, 4096).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read the old master key from standard input: %w", err)
			}
			old = strings.TrimSpace(line)
		default:
			old = env
		}
		if old == "" {
			return usagef("give the old master key: --old-key-stdin or %s", oldKeyEnv)
		}
		oldKey, err := parseMasterKey(a.getenv, old)
		if err != nil {
			return err
		}
		n, err := admin.ResealKeys(ctx, a.store, oldKey, a.cfg.MasterKey, a.opt)
		if errors.Is(err, seal.ErrWrongMasterKey) {
			return fmt.Errorf("nothing changed: %w (neither the old nor the new master key opens it)", err)
		} else if err != nil {
			return err
		}
		if a.json {
			return a.printJSON(map[string]any{"resealed": n})
		}
		fmt.Fprintf(a.stdout, "re-sealed %d key(s) under BATON_MASTER_KEY: restart every server with it (until then their key reloads fail)\n", n)
		return nil
	}
}

// parseMasterKey decodes a master key exactly as the configuration reads
// BATON_MASTER_KEY (32 bytes, hex or base64), by loading the configuration
// with that variable replaced.
func parseMasterKey(getenv func(string) string, v string) ([]byte, error) {
	cfg, err := config.Load(func(k string) string {
		if k == "BATON_MASTER_KEY" {
			return v
		}
		return getenv(k)
	})
	if err != nil {
		return nil, usagef("the old master key must be 32 bytes, hex- or base64-encoded")
	}
	return cfg.MasterKey, nil
}
