package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/batonauth/baton"
	bsession "github.com/batonauth/baton/session"
)

// Clients: `baton clients …` registers the applications that sign in with
// baton as an OpenID provider.

// listFlag is a repeatable flag; an empty value adds nothing, so
// `--post-logout-redirect-uri ""` on update empties the list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, " ") }

func (l *listFlag) Set(v string) error {
	if v != "" {
		*l = append(*l, v)
	}
	return nil
}

// commaList splits a comma-separated flag value; "" is an empty list (not
// nil: nil would mean the defaults).
func commaList(v string) []string {
	out := []string{}
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// clientFlags declares the registration flags on fs (with --name for an
// update, where NAME is no argument) and returns what applies the flags
// given on the command line to a spec — only those, so an update changes
// what it names and keeps the rest.
func clientFlags(fs *flag.FlagSet, update bool) func(*bsession.ClientSpec) {
	var name *string
	if update {
		name = fs.String("name", "", "the client's new `NAME` (shown on the consent page)")
	}
	var redirect, postLogout listFlag
	replaces := ""
	if update {
		replaces = "; replaces the list"
	}
	fs.Var(&redirect, "redirect-uri", "a redirect `URI` (repeat for several; exact match, loopback http URIs in any port)"+replaces)
	fs.Var(&postLogout, "post-logout-redirect-uri", "a `URI` RP-initiated logout may redirect to (repeat for several)"+replaces)
	backchannel := fs.String("backchannel-logout-uri", "", "the `URI` that receives back-channel logout tokens")
	public := fs.Bool("public", false, "a public client (a native or browser app): no secret, authenticates with its client_id and PKCE")
	firstParty := fs.Bool("first-party", false, "no consent page for this client")
	requirePAR := fs.Bool("require-par", false, "refuse authorization requests that were not pushed first (POST /oauth/par)")
	scopes := fs.String("scopes", "", "comma-separated `LIST` of scopes the client may ask for (default openid,profile,email,offline_access; openid is always added)")
	grants := fs.String("grant-types", "", "comma-separated `LIST` of grant types: authorization_code, refresh_token, client_credentials (default authorization_code,refresh_token)")
	alg := fs.String("id-token-alg", "", "the ID-token signing `algorithm`: RS256 (default), ES256 or EdDSA")
	access := fs.Duration("access-ttl", 0, "the client's access-token lifetime (0: the server's)")
	refresh := fs.Duration("refresh-ttl", 0, "the lifetime of the client's sessions (0: the server's)")
	idle := fs.Duration("refresh-idle-ttl", 0, "how long the client's sessions live unused (0: the server's)")
	return func(spec *bsession.ClientSpec) {
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "name":
				spec.Name = *name
			case "redirect-uri":
				spec.RedirectURIs = redirect
			case "post-logout-redirect-uri":
				spec.PostLogoutRedirectURIs = postLogout
			case "backchannel-logout-uri":
				spec.BackchannelLogoutURI = *backchannel
			case "public":
				spec.Public = *public
			case "first-party":
				spec.FirstParty = *firstParty
			case "require-par":
				spec.RequirePAR = *requirePAR
			case "scopes":
				spec.Scopes = commaList(*scopes)
			case "grant-types":
				spec.GrantTypes = commaList(*grants)
			case "id-token-alg":
				spec.IDTokenAlg = *alg
			case "access-ttl":
				spec.AccessTTL = *access
			case "refresh-ttl":
				spec.RefreshTTL = *refresh
			case "refresh-idle-ttl":
				spec.RefreshIdleTTL = *idle
			}
		})
	}
}

// clientJSON is a client in clients list, show and update --json: its
// registration, never its secret or the secret's hash. Member names follow
// RFC 7591 where it has one.
type clientJSON struct {
	ClientID               string    `json:"client_id"`
	Name                   string    `json:"client_name"`
	Public                 bool      `json:"public"`
	AuthMethods            []string  `json:"token_endpoint_auth_methods"`
	FirstParty             bool      `json:"first_party"`
	RequirePAR             bool      `json:"require_pushed_authorization_requests"`
	RedirectURIs           []string  `json:"redirect_uris"`
	PostLogoutRedirectURIs []string  `json:"post_logout_redirect_uris"`
	BackchannelLogoutURI   *string   `json:"backchannel_logout_uri"`
	Scopes                 []string  `json:"scopes"`
	GrantTypes             []string  `json:"grant_types"`
	IDTokenAlg             string    `json:"id_token_signed_response_alg"`
	AccessTTL              *string   `json:"access_ttl"` // null: the server's
	RefreshTTL             *string   `json:"refresh_ttl"`
	RefreshIdleTTL         *string   `json:"refresh_idle_ttl"`
	CreatedAt              time.Time `json:"created_at"`
	UpdatedAt              time.Time `json:"updated_at"`
}

func toClientJSON(c *baton.OAuthClient) clientJSON {
	dur := func(d time.Duration) *string {
		if d == 0 {
			return nil
		}
		s := d.String()
		return &s
	}
	list := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	j := clientJSON{ClientID: c.ID, Name: c.Name, Public: c.Public(), AuthMethods: clientAuthMethods(c), FirstParty: c.FirstParty,
		RequirePAR: c.RequirePAR, RedirectURIs: list(c.RedirectURIs), PostLogoutRedirectURIs: list(c.PostLogoutRedirectURIs),
		Scopes: list(c.Scopes), GrantTypes: list(c.GrantTypes), IDTokenAlg: c.IDTokenAlg,
		AccessTTL: dur(c.AccessTTL), RefreshTTL: dur(c.RefreshTTL), RefreshIdleTTL: dur(c.RefreshIdleTTL),
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if c.BackchannelLogoutURI != "" {
		u := c.BackchannelLogoutURI
		j.BackchannelLogoutURI = &u
	}
	return j
}

// clientAuthMethods are the token-endpoint authentication methods the
// client uses.
func clientAuthMethods(c *baton.OAuthClient) []string {
	if c.Public() {
		return []string{bsession.AuthNone}
	}
	return []string{bsession.AuthClientSecretBasic, bsession.AuthClientSecretPost}
}

func clientType(c *baton.OAuthClient) string {
	if c.Public() {
		return "public"
	}
	return "confidential"
}

func yesNo(b bool) string { return map[bool]string{true: "yes", false: "no"}[b] }

// ttlText is a client's lifetime for clients show.
func ttlText(d time.Duration) string {
	if d == 0 {
		return "the server's"
	}
	return d.String()
}

// printSecret prints a client's new secret once (clients add and
// rotate-secret): what says which client, its id, and the secret, empty
// for a public client.
func (a *adminRun) printSecret(what, id, secret string) error {
	if a.json {
		out := map[string]string{"client_id": id}
		if secret != "" {
			out["client_secret"] = secret
		}
		return a.printJSON(out)
	}
	fmt.Fprintln(a.stdout, what)
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 1, ' ', 0)
	fmt.Fprintf(tw, "client_id:\t%s\n", id)
	if secret == "" {
		tw.Flush()
		fmt.Fprintln(a.stdout, "A public client has no secret: it authenticates with its client_id alone (and PKCE).")
		return nil
	}
	fmt.Fprintf(tw, "client_secret:\t%s\n", secret)
	tw.Flush()
	fmt.Fprintf(a.stdout, "The secret is shown only now: baton keeps only its hash (\"baton clients rotate-secret %s\" makes a new one).\n", id)
	return nil
}

func clientsAdd(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	apply := clientFlags(fs, false)
	return func(ctx context.Context, a *adminRun, args []string) error {
		name, err := oneArg(args, "NAME (quote a name with spaces)")
		if err != nil {
			return err
		}
		spec := bsession.ClientSpec{Name: name}
		apply(&spec)
		c, secret, err := a.admin.AddClient(ctx, spec)
		if err != nil {
			return err
		}
		return a.printSecret(fmt.Sprintf("added %s client %s", clientType(c), cell(c.Name, 100)), c.ID, secret)
	}
}

func clientsList(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	limit := fs.Int("limit", 1000, "list at most `N` clients (1 to 1000)")
	after := fs.String("after", "", "start after this client `ID` (paging)")
	return func(ctx context.Context, a *adminRun, args []string) error {
		if len(args) != 0 {
			return usagef("unexpected argument %q", args[0])
		}
		if *limit < 1 || *limit > 1000 {
			return usagef("--limit must be between 1 and 1000")
		}
		cs, err := a.admin.Clients(ctx, *after, *limit)
		if err != nil {
			return err
		}
		if a.json {
			out := make([]clientJSON, 0, len(cs))
			for _, c := range cs {
				out = append(out, toClientJSON(c))
			}
			return a.printJSON(out)
		}
		rows := make([][]string, 0, len(cs))
		for _, c := range cs {
			rows = append(rows, []string{c.ID, cell(c.Name, 40), clientType(c), yesNo(c.FirstParty),
				strings.Join(c.GrantTypes, ","), ts(c.CreatedAt)})
		}
		a.table("CLIENT ID\tNAME\tTYPE\tFIRST PARTY\tGRANT TYPES\tCREATED", rows)
		return nil
	}
}

// printClient prints a client's registration (clients show and update).
func (a *adminRun) printClient(c *baton.OAuthClient) error {
	if a.json {
		return a.printJSON(toClientJSON(c))
	}
	lines := func(l []string) string {
		if len(l) == 0 {
			return "-"
		}
		cells := make([]string, len(l))
		for i, s := range l {
			cells[i] = cell(s, 2000)
		}
		return strings.Join(cells, "\n\t")
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "client_id:\t%s\nname:\t%s\ntype:\t%s (%s)\nfirst party:\t%s\nrequire PAR:\t%s\n",
		c.ID, cell(c.Name, 100), clientType(c), strings.Join(clientAuthMethods(c), ", "), yesNo(c.FirstParty), yesNo(c.RequirePAR))
	fmt.Fprintf(tw, "redirect URIs:\t%s\npost-logout URIs:\t%s\nback-channel logout:\t%s\n",
		lines(c.RedirectURIs), lines(c.PostLogoutRedirectURIs), cell(c.BackchannelLogoutURI, 2000))
	fmt.Fprintf(tw, "scopes:\t%s\ngrant types:\t%s\nID-token alg:\t%s\n",
		cell(strings.Join(c.Scopes, " "), 2000), strings.Join(c.GrantTypes, " "), c.IDTokenAlg)
	fmt.Fprintf(tw, "access TTL:\t%s\nrefresh TTL:\t%s\nrefresh idle TTL:\t%s\ncreated:\t%s\nupdated:\t%s\n",
		ttlText(c.AccessTTL), ttlText(c.RefreshTTL), ttlText(c.RefreshIdleTTL), ts(c.CreatedAt), ts(c.UpdatedAt))
	return tw.Flush()
}

// withClientID is a clients command that names one client by its id.
func withClientID(act func(ctx context.Context, a *adminRun, id string) error) func(context.Context, *adminRun, []string) error {
	return func(ctx context.Context, a *adminRun, args []string) error {
		id, err := oneArg(args, "client ID")
		if err != nil {
			return err
		}
		return act(ctx, a, id)
	}
}

func clientsShow(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	return withClientID(func(ctx context.Context, a *adminRun, id string) error {
		c, err := a.admin.Client(ctx, id)
		if err != nil {
			return err
		}
		return a.printClient(c)
	})
}

func clientsUpdate(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	apply := clientFlags(fs, true)
	return withClientID(func(ctx context.Context, a *adminRun, id string) error {
		changes := 0
		fs.Visit(func(f *flag.Flag) {
			if f.Name != "json" {
				changes++
			}
		})
		if changes == 0 {
			return usagef("nothing to change: give the flags of what changes")
		}
		c, err := a.admin.UpdateClient(ctx, id, apply)
		if err != nil {
			return err
		}
		if !a.json {
			fmt.Fprintf(a.stdout, "updated client %s\n\n", c.ID)
		}
		return a.printClient(c)
	})
}

func clientsDelete(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	return withClientID(func(ctx context.Context, a *adminRun, id string) error {
		if err := a.admin.DeleteClient(ctx, id); err != nil {
			return err
		}
		if a.json {
			return a.printJSON(map[string]any{"client_id": id, "deleted": true})
		}
		fmt.Fprintf(a.stdout, "deleted client %s: its sessions are revoked and its consents gone\n", id)
		return nil
	})
}

func clientsRotateSecret(fs *flag.FlagSet) func(context.Context, *adminRun, []string) error {
	return withClientID(func(ctx context.Context, a *adminRun, id string) error {
		secret, err := a.admin.RotateClientSecret(ctx, id)
		if err != nil {
			return err
		}
		return a.printSecret("new secret of client "+id+": the old one no longer works", id, secret)
	})
}
