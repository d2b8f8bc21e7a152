package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// Passkeys (WebAuthn Level 3). Every ceremony is two requests: the options,
// whose challenge is stored (only as a hash) with the library's session
// data, and the answer, which spends it by compare-and-set — so any
// instance finishes a ceremony another began, and a challenge works once.

// Passkey events (never holding a credential or a challenge).
const (
	EventPasskeyAdded   = "passkey_added"
	EventPasskeyRemoved = "passkey_removed"
	// EventPasskeyCounter: a signature counter that did not move forward,
	// the sign of a cloned authenticator (WebAuthn §6.1.1).
	EventPasskeyCounter = "passkey_counter_regression"

	// MethodPasskey is the second-factor method of the mfa_required answer.
	MethodPasskey = "passkey"

	// PasskeyTTL is how long a ceremony's challenge works.
	PasskeyTTL = 5 * time.Minute
	// MaxPasskeyName bounds a passkey's name, in characters.
	MaxPasskeyName = 64

	flowPrefix = "bpk_"
)

// flowChallengeLen is the base64url length of the library's challenges.
var flowChallengeLen = base64.RawURLEncoding.EncodedLen(protocol.ChallengeLength)

var (
	errPasskeysOff       = baton.Errorf(baton.ENotFound, "passkeys are not enabled on this server")
	errPasskeyFailed     = baton.Errorf(baton.EInvalidCredentials, "the passkey was not accepted")
	errMalformedPasskey  = baton.Errorf(baton.EInvalidRequest, "credential is not a valid WebAuthn response")
	errPasskeyNotFound   = baton.Errorf(baton.ENotFound, "no such passkey")
	errPasskeyRegistered = baton.Errorf(baton.EInvalidCredentials, "the passkey could not be registered: start again with new options")
	errTooManyPasskeys   = baton.Errorf(baton.EInvalidRequest, "the passkey is registered already, or this account has as many passkeys as allowed (%d): delete one first", baton.MaxPasskeysPerUser)
)

// WebAuthnConfig is the relying party.
type WebAuthnConfig struct {
	// RPID is the relying party id (a domain); empty turns passkeys off.
	RPID string
	// RPName is the name authenticators show.
	RPName string
	// Origins are the exact origins ceremonies may come from.
	Origins []string
}

func newWebAuthn(c WebAuthnConfig) (*webauthn.WebAuthn, error) {
	if c.RPID == "" {
		return nil, nil
	}
	name := c.RPName
	if name == "" {
		name = "baton"
	}
	timeout := webauthn.TimeoutConfig{Timeout: PasskeyTTL, TimeoutUVD: PasskeyTTL}
	return webauthn.New(&webauthn.Config{
		RPID:          c.RPID,
		RPDisplayName: name,
		RPOrigins:     c.Origins,
		// Discoverable credentials, user verification when the
		// authenticator can (with it a passkey is two factors).
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationPreferred,
		},
		AttestationPreference: protocol.PreferNoAttestation,
		// Expiry is the store's (the engine's clock), not the library's.
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
}

// PasskeysEnabled reports whether passkeys are on (an RP id is set).
func (s *Service) PasskeysEnabled() bool { return s.webauthn != nil }

// PasskeyFlow is the first half of a ceremony: the handle that finishes it
// and the options for navigator.credentials (the publicKey member, as
// PublicKeyCredential.parse…OptionsFromJSON takes it).
type PasskeyFlow struct {
	FlowID    string
	Options   json.RawMessage
	ExpiresIn time.Duration
}

// ceremony is what a challenge keeps for the second half: the library's
// session data without the challenge itself (only its hash is stored,
// and the answer brings it back), and, for a second step, the hash of the
// mfa_token it belongs to.
type ceremony struct {
	Session webauthn.SessionData `json:"session"`
	MFA     []byte               `json:"mfa,omitempty"`
}

// waUser adapts a user and its passkeys to the library.
type waUser struct {
	u     *baton.User
	creds []webauthn.Credential
}

func (w *waUser) WebAuthnID() []byte                         { return []byte(w.u.ID) }
func (w *waUser) WebAuthnName() string                       { return w.u.Username }
func (w *waUser) WebAuthnDisplayName() string                { return w.u.Username }
func (w *waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

func credential(p *baton.Passkey) webauthn.Credential {
	transports := make([]protocol.AuthenticatorTransport, len(p.Transports))
	for i, t := range p.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID: p.CredentialID, PublicKey: p.PublicKey, Transport: transports,
		Flags: webauthn.CredentialFlags{UserPresent: true, UserVerified: p.Flags.UserVerified,
			BackupEligible: p.Flags.BackupEligible, BackupState: p.Flags.BackupState},
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount},
	}
}

func (s *Service) webauthnUser(ctx context.Context, u *baton.User) (*waUser, []*baton.Passkey, error) {
	ps, err := s.store.Passkeys(ctx, u.ID)
	if err != nil {
		return nil, nil, err
	}
	w := &waUser{u: u}
	for _, p := range ps {
		w.creds = append(w.creds, credential(p))
	}
	return w, ps, nil
}

// startCeremony stores the challenge of sd and returns the flow.
func (s *Service) startCeremony(ctx context.Context, kind, userID string, sd *webauthn.SessionData, mfa []byte, options any) (*PasskeyFlow, error) {
	raw, err := base64.RawURLEncoding.DecodeString(sd.Challenge)
	if err != nil {
		return nil, err
	}
	flow := flowPrefix + sd.Challenge
	c := ceremony{Session: *sd, MFA: mfa}
	c.Session.Challenge, c.Session.Expires = "", time.Time{}
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	h := sha256.Sum256(raw)
	if err := s.store.CreateChallenge(ctx, &baton.Challenge{ID: newID(), Hash: h[:], Kind: kind, UserID: userID,
		Data: data, CreatedAt: now, ExpiresAt: now.Add(PasskeyTTL)}); err != nil {
		return nil, err
	}
	return &PasskeyFlow{FlowID: flow, Options: opts, ExpiresIn: PasskeyTTL}, nil
}

// challengeOf returns the base64url challenge a flow id carries, or "".
func challengeOf(flowID string) string {
	c, ok := strings.CutPrefix(flowID, flowPrefix)
	if !ok || len(c) != flowChallengeLen {
		return ""
	}
	if _, err := base64.RawURLEncoding.DecodeString(c); err != nil {
		return ""
	}
	return c
}

// takeCeremony spends the live challenge whose base64url value is
// challenge, by compare-and-set, and returns its ceremony with the
// challenge put back. ENotFound when there is none (unknown, used,
// expired).
func (s *Service) takeCeremony(ctx context.Context, kind, challenge string) (*baton.Challenge, *ceremony, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(challenge, "="))
	if err != nil || len(raw) == 0 {
		return nil, nil, baton.Errorf(baton.ENotFound, "no such challenge")
	}
	h := sha256.Sum256(raw)
	ch, err := s.store.SpendChallenge(ctx, h[:], kind, s.Now(), 1)
	if err != nil {
		return nil, nil, err
	}
	var c ceremony
	if err := json.Unmarshal(ch.Data, &c); err != nil {
		return nil, nil, err
	}
	c.Session.Challenge = base64.RawURLEncoding.EncodeToString(raw)
	return ch, &c, nil
}

// BeginPasskeyRegistration starts an enrolment for the token's user: the
// options ask for a discoverable credential, prefer user verification and
// exclude the user's passkeys. Needs a fresh token, with mfa in amr once
// the user has a second factor (as a TOTP enrolment does). EInvalidRequest when
// the user has as many passkeys as allowed; ENotFound when passkeys are
// off.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, c *token.Claims) (*PasskeyFlow, error) {
	if s.webauthn == nil {
		return nil, errPasskeysOff
	}
	if err := s.requireFreshFactors(ctx, c); err != nil {
		return nil, err
	}
	u, err := s.Me(ctx, c)
	if err != nil {
		return nil, err
	}
	wu, ps, err := s.webauthnUser(ctx, u)
	if err != nil {
		return nil, err
	}
	if len(ps) >= baton.MaxPasskeysPerUser {
		return nil, errTooManyPasskeys
	}
	creation, sd, err := s.webauthn.BeginRegistration(wu, webauthn.WithExclusions(webauthn.Credentials(wu.creds).CredentialDescriptors()))
	if err != nil {
		return nil, err
	}
	return s.startCeremony(ctx, baton.ChallengeWebAuthnRegister, u.ID, sd, nil, creation.Response)
}

// FinishPasskeyRegistration verifies the authenticator's answer to the
// flow's challenge and stores the new passkey. Needs a fresh token of the
// user who began it (with mfa once the user has a second factor). Outcomes: the passkey; EInvalidRequest (a credential
// that is not a RegistrationResponseJSON, a bad name); EInvalidCredentials
// (unknown, used or expired flow, or an answer that does not verify: wrong
// origin, RP id, challenge or signature); EInvalidRequest (the limit, or
// the credential is registered already).
func (s *Service) FinishPasskeyRegistration(ctx context.Context, c *token.Claims, flowID string, credentialJSON []byte, name string, cl Client) (*baton.Passkey, error) {
	if s.webauthn == nil {
		return nil, errPasskeysOff
	}
	if err := s.requireFreshFactors(ctx, c); err != nil {
		return nil, err
	}
	name, err := passkeyName(name)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credentialJSON)
	if err != nil {
		return nil, errMalformedPasskey
	}
	challenge := challengeOf(flowID)
	if challenge == "" {
		return nil, errPasskeyRegistered
	}
	ch, cer, err := s.takeCeremony(ctx, baton.ChallengeWebAuthnRegister, challenge)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, errPasskeyRegistered
	} else if err != nil {
		return nil, err
	}
	if ch.UserID != c.Subject {
		return nil, errPasskeyRegistered
	}
	u, err := s.Me(ctx, c)
	if err != nil {
		return nil, err
	}
	cred, err := s.webauthn.CreateCredential(&waUser{u: u}, cer.Session, parsed)
	if err != nil {
		s.emit(ctx, Event{Type: EventPasskeyAdded, Outcome: OutcomeFailed, UserID: u.ID, SessionID: c.SessionID, Client: cl, Detail: protocolDetail(err)})
		return nil, errPasskeyRegistered
	}
	transports := make([]string, 0, len(cred.Transport))
	for _, t := range cred.Transport {
		if len(t) <= 32 && !strings.Contains(string(t), ",") {
			transports = append(transports, string(t))
		}
	}
	if len(transports) > 8 {
		transports = transports[:8]
	}
	p := &baton.Passkey{
		ID: newID(), UserID: u.ID, CredentialID: cred.ID, PublicKey: cred.PublicKey,
		SignCount: cred.Authenticator.SignCount, AAGUID: cred.Authenticator.AAGUID, Transports: transports,
		Flags: baton.PasskeyFlags{UserVerified: cred.Flags.UserVerified, BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState},
		Name:  name, CreatedAt: s.Now(),
	}
	if p.Name == "" {
		p.Name = "Passkey"
	}
	if err := s.store.CreatePasskey(ctx, p); baton.ErrorCode(err) == baton.EConflict {
		// The store's compare-and-set lost: the limit reached meanwhile,
		// or the credential registered (also through another flow).
		return nil, errTooManyPasskeys
	} else if err != nil {
		return nil, err
	}
	s.profiles.drop(u.ID)
	s.emit(ctx, Event{Type: EventPasskeyAdded, Outcome: OutcomeOK, UserID: u.ID, SessionID: c.SessionID, Client: cl})
	s.securityNotice(ctx, u.ID, changePasskeyAdded)
	return p, nil
}

// passkeyName trims a name and checks it: up to MaxPasskeyName printable
// characters ("" for the default).
func passkeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	ok := utf8.ValidString(name) && utf8.RuneCountInString(name) <= MaxPasskeyName
	for _, r := range name {
		ok = ok && r >= 0x20 && r != 0x7f
	}
	if !ok {
		return "", baton.Errorf(baton.EInvalidRequest, "name is up to 64 printable characters")
	}
	return name, nil
}

// protocolDetail is a short, safe reason for the audit log.
func protocolDetail(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return truncate(pe.Type+": "+pe.Details, 200)
	}
	return "verification failed"
}

// Passkeys lists the token's user's passkeys, oldest first.
func (s *Service) Passkeys(ctx context.Context, c *token.Claims) ([]*baton.Passkey, error) {
	if s.webauthn == nil {
		return nil, errPasskeysOff
	}
	return s.store.Passkeys(ctx, c.Subject)
}

// DeletePasskey removes one of the token's user's passkeys. Needs a fresh
// token, and one with mfa in amr when it is the user's last second factor
// (no TOTP and no other passkey): no factor goes without the proof of
// two. The store checks "not the last" in the same step as the delete, so
// concurrent deletions cannot remove the last one between them. ENotFound
// for anything not the caller's.
func (s *Service) DeletePasskey(ctx context.Context, c *token.Claims, id string, cl Client) error {
	if s.webauthn == nil {
		return errPasskeysOff
	}
	if err := s.RequireFresh(c); err != nil {
		return err
	}
	keepOne := false
	if s.requireFreshMFA(c) != nil {
		totp, err := s.totpOn(ctx, c.Subject)
		if err != nil {
			return err
		}
		keepOne = !totp
	}
	err := s.store.DeletePasskey(ctx, c.Subject, id, keepOne)
	switch baton.ErrorCode(err) {
	case "":
	case baton.ENotFound:
		return errPasskeyNotFound
	case baton.EConflict:
		return s.requireFreshMFA(c)
	default:
		return err
	}
	s.profiles.drop(c.Subject)
	s.emit(ctx, Event{Type: EventPasskeyRemoved, Outcome: OutcomeOK, UserID: c.Subject, SessionID: c.SessionID, Client: cl})
	s.securityNotice(ctx, c.Subject, changePasskeyRemoved)
	return nil
}

// BeginPasskeyLogin starts a sign-in. Without an mfa_token it is
// usernameless: no allowCredentials, so the options reveal nothing about
// who has a passkey. With one, it is the second step of that login, and
// the options list the user's passkeys. EInvalidGrant for a dead
// mfa_token; ENotFound when passkeys are off.
func (s *Service) BeginPasskeyLogin(ctx context.Context, mfaToken string) (*PasskeyFlow, error) {
	if s.webauthn == nil {
		return nil, errPasskeysOff
	}
	if mfaToken == "" {
		assertion, sd, err := s.webauthn.BeginDiscoverableLogin()
		if err != nil {
			return nil, err
		}
		return s.startCeremony(ctx, baton.ChallengeWebAuthnLogin, "", sd, nil, assertion.Response)
	}
	ch, err := s.liveMFA(ctx, mfaToken)
	if err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(ctx, ch.UserID)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, errDeadMFAToken
	} else if err != nil {
		return nil, err
	}
	wu, _, err := s.webauthnUser(ctx, u)
	if err != nil {
		return nil, err
	}
	if len(wu.creds) == 0 {
		return nil, baton.Errorf(baton.EInvalidRequest, "this account has no passkey: use another method")
	}
	assertion, sd, err := s.webauthn.BeginLogin(wu)
	if err != nil {
		return nil, err
	}
	return s.startCeremony(ctx, baton.ChallengeWebAuthnLogin, u.ID, sd, ch.Hash, assertion.Response)
}

// PasskeyLoginRequest is the second half of a passkey sign-in.
type PasskeyLoginRequest struct {
	FlowID     string
	Credential []byte // AuthenticationResponseJSON
	Transport  string
	ClientID   string
	Binding    string
}

// FinishPasskeyLogin verifies a usernameless sign-in and creates a
// session with amr hwk, plus mfa when the authenticator verified the user
// (only then are its tokens fresh; without it, a user with TOTP on is
// refused). Outcomes: the grant; EInvalidRequest
// (a malformed credential or transport); EInvalidCredentials (every
// failure: unknown credential, bad signature, wrong origin or RP id, used
// or expired challenge, a counter that went backwards, a locked user);
// EEmailNotVerified as at login.
func (s *Service) FinishPasskeyLogin(ctx context.Context, req PasskeyLoginRequest, cl Client) (*Grant, error) {
	transport, err := normalizeTransport(req.Transport)
	if err != nil {
		return nil, err
	}
	return s.finishPasskeyLogin(ctx, req, transport, cl)
}

// PasskeySignIn is a usernameless passkey sign-in on baton's own page: its
// session is the browser's single-sign-on session (see SignIn).
func (s *Service) PasskeySignIn(ctx context.Context, flowID string, credential []byte, cl Client) (*Grant, error) {
	return s.finishPasskeyLogin(ctx, PasskeyLoginRequest{FlowID: flowID, Credential: credential}, baton.TransportSSO, cl)
}

func (s *Service) finishPasskeyLogin(ctx context.Context, req PasskeyLoginRequest, transport string, cl Client) (*Grant, error) {
	if s.webauthn == nil {
		return nil, errPasskeysOff
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(req.Credential)
	if err != nil {
		return nil, errMalformedPasskey
	}
	fail := func(userID, detail string) error {
		s.emit(ctx, Event{Type: EventLogin, Outcome: OutcomeFailed, UserID: userID, Client: cl, Detail: "passkey: " + detail})
		return errPasskeyFailed
	}
	challenge := challengeOf(req.FlowID)
	if challenge == "" {
		return nil, fail("", "unknown flow")
	}
	_, cer, err := s.takeCeremony(ctx, baton.ChallengeWebAuthnLogin, challenge)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, fail("", "unknown, used or expired challenge")
	} else if err != nil {
		return nil, err
	}
	if cer.MFA != nil {
		// A second step's challenge finishes at /v1/login/mfa only.
		return nil, fail("", "second-step challenge")
	}
	var (
		pk       *baton.Passkey
		u        *baton.User
		storeErr error
	)
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		p, err := s.store.PasskeyByCredentialID(ctx, rawID)
		if err != nil {
			if baton.ErrorCode(err) != baton.ENotFound {
				storeErr = err
			}
			return nil, errors.New("unknown credential")
		}
		if subtle.ConstantTimeCompare(userHandle, []byte(p.UserID)) != 1 {
			return nil, errors.New("user handle does not match")
		}
		usr, err := s.store.UserByID(ctx, p.UserID)
		if err != nil {
			if baton.ErrorCode(err) != baton.ENotFound {
				storeErr = err
			}
			return nil, errors.New("unknown user")
		}
		pk, u = p, usr
		return &waUser{u: usr, creds: []webauthn.Credential{credential(p)}}, nil
	}
	_, cred, err := s.webauthn.ValidatePasskeyLogin(handler, cer.Session, parsed)
	if storeErr != nil {
		return nil, storeErr
	}
	uid := ""
	if u != nil {
		uid = u.ID
	}
	if err != nil {
		return nil, fail(uid, protocolDetail(err))
	}
	if err := s.usePasskey(ctx, pk, cred, parsed, cl); err != nil {
		return nil, err
	}
	if !u.LockedAt.IsZero() {
		return nil, fail(u.ID, "locked")
	}
	if s.cfg.RequireVerifiedEmail && !u.EmailVerified {
		s.emit(ctx, Event{Type: EventLogin, Outcome: OutcomeFailed, UserID: u.ID, Client: cl, Detail: baton.EEmailNotVerified})
		return nil, baton.Errorf(baton.EEmailNotVerified, "the account's email address is not verified yet")
	}
	uv := parsed.Response.AuthenticatorData.Flags.HasUserVerified()
	if !uv {
		// Without user verification a passkey is one factor: it must not
		// stand in for the two a TOTP user always gives (no factor
		// bypasses another).
		totp, err := s.totpOn(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		if totp {
			return nil, fail(u.ID, "no user verification, and the account has TOTP on")
		}
	}
	amr := baton.AMR(baton.AMRPasskey)
	if uv {
		amr = baton.AMR(baton.AMRPasskey, baton.AMRMFA)
	}
	g, err := s.openSession(ctx, u, amr, uv, transport, req.ClientID, req.Binding, cl)
	if baton.ErrorCode(err) == baton.EConflict {
		return nil, fail(u.ID, "credentials changed")
	} else if err != nil {
		return nil, err
	}
	s.emit(ctx, Event{Type: EventLogin, Outcome: OutcomeOK, UserID: u.ID, SessionID: g.Session.ID, Client: cl, Detail: "passkey"})
	return g, nil
}

// PasskeyAccount returns the canonical username of the user whose passkey
// an AuthenticationResponseJSON names ("" when it names none), so that
// failed passkey sign-ins count toward that account's limits as wrong
// passwords do. It verifies nothing.
func (s *Service) PasskeyAccount(ctx context.Context, credentialJSON []byte) string {
	if s.webauthn == nil {
		return ""
	}
	var c struct {
		RawID string `json:"rawId"`
	}
	if json.Unmarshal(credentialJSON, &c) != nil || len(c.RawID) > 2048 {
		return ""
	}
	id, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(c.RawID, "="))
	if err != nil || len(id) == 0 {
		return ""
	}
	p, err := s.store.PasskeyByCredentialID(ctx, id)
	if err != nil {
		return ""
	}
	u, err := s.store.UserByID(ctx, p.UserID)
	if err != nil {
		return ""
	}
	return u.CanonicalUsername
}

// usePasskey moves the passkey's signature counter forward by
// compare-and-set. A counter that did not (a clone, or a replay racing
// this use) refuses the sign-in and is an audit event.
func (s *Service) usePasskey(ctx context.Context, p *baton.Passkey, cred *webauthn.Credential, parsed *protocol.ParsedCredentialAssertionData, cl Client) error {
	count := parsed.Response.AuthenticatorData.Counter
	regression := func() error {
		s.emit(ctx, Event{Type: EventPasskeyCounter, Outcome: OutcomeFailed, UserID: p.UserID, Client: cl,
			Detail: "passkey " + p.ID + " counter " + itoa(int64(count)) + " after " + itoa(int64(p.SignCount))})
		return errPasskeyFailed
	}
	if cred.Authenticator.CloneWarning {
		return regression()
	}
	err := s.store.UsePasskey(ctx, p.ID, count, s.Now())
	switch baton.ErrorCode(err) {
	case "":
		return nil
	case baton.EConflict:
		return regression()
	case baton.ENotFound:
		return errPasskeyFailed
	}
	return err
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// parsePasskeyFactor parses a second step's assertion (EInvalidRequest
// when malformed), before the mfa_token is looked at.
func parsePasskeyFactor(raw []byte) (*protocol.ParsedCredentialAssertionData, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(raw)
	if err != nil {
		return nil, errMalformedPasskey
	}
	return parsed, nil
}

// checkPasskeyFactor verifies a second step's assertion: its challenge
// must be one that BeginPasskeyLogin made for this mfa_token (ch), and
// the credential one of the user's passkeys. It reports whether it was
// right and, for the audit log, what happened.
func (s *Service) checkPasskeyFactor(ctx context.Context, ch *baton.Challenge, parsed *protocol.ParsedCredentialAssertionData, cl Client) (bool, string, error) {
	if s.webauthn == nil {
		return false, MethodPasskey + ": passkeys are off", nil
	}
	wch, cer, err := s.takeCeremony(ctx, baton.ChallengeWebAuthnLogin, parsed.Response.CollectedClientData.Challenge)
	if baton.ErrorCode(err) == baton.ENotFound {
		return false, MethodPasskey + ": unknown, used or expired challenge", nil
	} else if err != nil {
		return false, "", err
	}
	if wch.UserID != ch.UserID || !bytes.Equal(cer.MFA, ch.Hash) {
		return false, MethodPasskey + ": challenge of another sign-in", nil
	}
	u, err := s.store.UserByID(ctx, ch.UserID)
	if baton.ErrorCode(err) == baton.ENotFound {
		return false, MethodPasskey + ": unknown user", nil
	} else if err != nil {
		return false, "", err
	}
	wu, ps, err := s.webauthnUser(ctx, u)
	if err != nil {
		return false, "", err
	}
	cred, err := s.webauthn.ValidateLogin(wu, cer.Session, parsed)
	if err != nil {
		return false, MethodPasskey + ": " + protocolDetail(err), nil
	}
	var pk *baton.Passkey
	for _, p := range ps {
		if bytes.Equal(p.CredentialID, cred.ID) {
			pk = p
		}
	}
	if pk == nil {
		return false, MethodPasskey + ": unknown credential", nil
	}
	if err := s.usePasskey(ctx, pk, cred, parsed, cl); baton.ErrorCode(err) == baton.EInvalidCredentials {
		return false, MethodPasskey + ": counter regression", nil
	} else if err != nil {
		return false, "", err
	}
	return true, MethodPasskey, nil
}

// passkeyCount counts the user's passkeys (none when passkeys are off: a
// factor the server cannot check is no factor).
func (s *Service) passkeyCount(ctx context.Context, userID string) (int, error) {
	if s.webauthn == nil {
		return 0, nil
	}
	ps, err := s.store.Passkeys(ctx, userID)
	return len(ps), err
}
