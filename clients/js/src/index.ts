/**
 * @batonauth/client — a zero-dependency client for the baton authentication
 * server (see the wire contract, API.md).
 *
 * - The access token lives in memory only (never localStorage or
 *   sessionStorage). With the `body` transport the refresh token is persisted
 *   only through the caller's {@link RefreshTokenStorage} (in memory by
 *   default); with `refresh_cookie` and `cookies` the server keeps it in an
 *   HttpOnly cookie.
 * - The access token is refreshed before it expires, on a timer measured
 *   with the monotonic clock (`performance.now()`), and again when a request
 *   is answered `401 token_expired`; the request is then retried once.
 * - Concurrent callers share one refresh (single-flight). Across tabs, one
 *   tab refreshes at a time (Web Locks, falling back to a BroadcastChannel
 *   election) and the others adopt the rotated token it broadcasts.
 */

export type Transport = 'body' | 'refresh_cookie' | 'cookies';

/**
 * Why a session ended.
 *
 * The server answers every refresh failure with the same `invalid_grant`, on
 * purpose (it tells an attacker nothing), so the client infers the reason:
 * - `logged_out`: this tab or another tab called {@link BatonClient.logout}.
 * - `expired`: the refresh failed after the session's absolute expiry
 *   (`refresh_token_expires_in`), as measured by this client.
 * - `reuse_detected`: the refresh failed before the absolute expiry, in a
 *   session that had already rotated its refresh token at least once: a
 *   spent token of this family was presented, by us or by someone who stole
 *   one, and the server revoked the whole family. (A revocation from another
 *   device that is first noticed at a refresh looks the same on the wire and
 *   is reported the same way.)
 * - `revoked`: a request with a live access token was refused with
 *   `invalid_token` (the session was revoked: logout elsewhere, password
 *   change, an admin, or reuse detection noticed first by an API call), or a
 *   refresh failed in a session that had never rotated.
 */
export type SessionEndReason = 'logged_out' | 'expired' | 'revoked' | 'reuse_detected';

/** Where the `body` transport persists the refresh token. */
export interface RefreshTokenStorage {
  load(): string | null | undefined | Promise<string | null | undefined>;
  /** Saves the current refresh token; null deletes it. */
  save(token: string | null): void | Promise<void>;
}

/** The default storage: memory only, gone with the page. */
export class MemoryStorage implements RefreshTokenStorage {
  private token: string | null = null;
  load(): string | null {
    return this.token;
  }
  save(token: string | null): void {
    this.token = token;
  }
}

/** A token response (API.md, Login). */
export interface TokenResponse {
  access_token?: string;
  token_type: string;
  expires_in: number;
  refresh_token?: string;
  refresh_token_expires_in?: number;
  session_id: string;
}

/** The user's second factors, as `GET /v1/me` shows them. */
export interface MfaState {
  /** Whether TOTP (an authenticator app) is on. */
  totp: boolean;
  /** How many passkeys the user has registered. */
  passkeys: number;
  /** Recovery codes not used yet (0 without a second factor). */
  recovery_codes_left: number;
}

export interface User {
  id: string;
  username: string;
  created_at: string;
  session_id?: string;
  /** The user's address, or null (API.md, Email addresses). */
  email?: string | null;
  email_verified?: boolean;
  /** Second factors; in {@link BatonClient.me}'s answer only. */
  mfa?: MfaState;
}

/** The second factors a sign-in can be finished with. */
export type SecondFactorMethod = 'totp' | 'recovery_code' | 'passkey';

/**
 * What {@link BatonClient.login} and {@link BatonClient.reauth} resolve to
 * when the password was right but the user has a second factor: finish with
 * {@link BatonClient.completeLogin}. The server's `mfa_token` stays inside
 * the client.
 */
export interface SecondFactorRequired {
  mfaRequired: true;
  /** The factors the server accepts, e.g. ['totp', 'recovery_code']. */
  methods: SecondFactorMethod[];
  /** How long the second step may take (the server says 5 minutes). */
  expiresInMs: number;
}

/**
 * What {@link BatonClient.login} and {@link BatonClient.reauth} resolve to:
 * the token response as before (for a user without a second factor
 * nothing changes), or {@link SecondFactorRequired}. Tell them apart with
 * `if (r.mfaRequired)`.
 */
export type LoginResult = (TokenResponse & { mfaRequired?: false }) | SecondFactorRequired;

/**
 * The factor that finishes a sign-in: a code of the authenticator app, a
 * recovery code, or one of the user's passkeys (`{passkey: true}`: the
 * client asks the browser, which asks the user).
 */
export type SecondFactor = { totp: string } | { recoveryCode: string } | { passkey: true; signal?: AbortSignal };

/** A registered passkey (`GET /v1/passkeys`). */
export interface Passkey {
  id: string;
  name: string;
  created_at: string;
  /** null until it first signs in. */
  last_used_at: string | null;
}

/**
 * Why the browser's side of a passkey ceremony failed (nothing reached
 * the server, or the server's options were unusable):
 * - `cancelled`: the user dismissed the prompt, it timed out, or no
 *   passkey of this site is on the device (browsers report all three the
 *   same way, on purpose: `NotAllowedError`).
 * - `already_registered`: this authenticator already holds a passkey of
 *   this account (`InvalidStateError` at enrolment).
 * - `aborted`: the caller's AbortSignal fired.
 * - `unsupported`: no WebAuthn here (no `navigator.credentials`, or
 *   `NotSupportedError`).
 * - `security`: the page's origin does not fit the server's relying party
 *   (`SecurityError`: e.g. the page at 127.0.0.1 while the RP ID is
 *   localhost).
 * - `failed`: anything else.
 */
export type PasskeyFailure = 'cancelled' | 'already_registered' | 'aborted' | 'unsupported' | 'security' | 'failed';

/** Thrown when the browser's side of a passkey ceremony fails; see {@link PasskeyFailure}. */
export class PasskeyError extends Error {
  constructor(
    readonly reason: PasskeyFailure,
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'PasskeyError';
  }
}

/** What navigator.credentials offers that passkeys need; replaceable for tests. */
export interface PasskeyCredentials {
  create(options: CredentialCreationOptions): Promise<Credential | null>;
  get(options: CredentialRequestOptions): Promise<Credential | null>;
}

/** A pending TOTP enrolment (`POST /v1/mfa/totp`): shown once. */
export interface TotpEnrolment {
  /** The base32 secret, for typing into an app. */
  secret: string;
  /** The `otpauth://totp/…` URI; the QR code of it is {@link BatonClient.totpQrCode}. */
  otpauth_uri: string;
}

/** Who asks for a password reset: {@link BatonClient.forgotPassword}. */
export type ForgotPasswordRequest = { email: string } | { username: string };

/** The answer of {@link BatonClient.verifyEmail}. */
export interface VerifiedEmail {
  email: string;
  email_verified: true;
}

/** An error answer of the server: `{error, error_description}`. */
export class BatonError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly description: string,
  ) {
    super(`${code}: ${description}`);
    this.name = 'BatonError';
  }
}

export interface TokenRefreshedEvent {
  /** Milliseconds until the new access token expires. */
  expiresInMs: number;
  sessionId: string;
  /** 'this_tab' when this client rotated, 'other_tab' when it adopted. */
  source: 'this_tab' | 'other_tab';
  /** 'refresh' for a rotation, 'login', 'reauth' or 'password' otherwise. */
  kind: 'refresh' | 'login' | 'reauth' | 'password';
}

export interface BatonClientOptions {
  /** The server's base URL, e.g. "https://auth.example.com". */
  baseUrl: string;
  transport?: Transport;
  /** Refresh-token persistence for the `body` transport. */
  storage?: RefreshTokenStorage;
  /** The fetch to use; globalThis.fetch by default. */
  fetch?: typeof globalThis.fetch;
  /** Reads a cookie (for baton_csrf); document.cookie by default. */
  getCookie?: (name: string) => string | undefined;
  /**
   * Other origins (e.g. "https://api.example.com") whose requests made with
   * {@link BatonClient.fetch} get the access token. The server's origin
   * always does; no other origin ever sees the token.
   */
  resourceOrigins?: string[];
  /** How long before expiry to refresh; default min(30 s, a third of the lifetime). */
  refreshMarginMs?: (lifetimeMs: number) => number;
  /** Coordinate with other tabs (default true where BroadcastChannel exists). */
  crossTab?: boolean;
  /** The BroadcastChannel and lock name; one per server by default. */
  channelName?: string;
  /** How long to wait for another tab's refresh before refreshing anyway. */
  lockTimeoutMs?: number;
  /** Force the BroadcastChannel election even where Web Locks exist (tests). */
  disableWebLocks?: boolean;
  /** What runs passkey ceremonies; navigator.credentials by default. */
  credentials?: PasskeyCredentials;
}

type Listener<T> = (value: T) => void;

/** A message between tabs. */
type TabMessage =
  | {
      t: 'state';
      from: string;
      gen: number;
      sid: string;
      access: string | null;
      refresh: string | null;
      exp: number; // server time (ms) the access token expires
      absExp: number | null; // server time (ms) the session expires
      rotations: number;
      kind: TokenRefreshedEvent['kind'];
    }
  | { t: 'hello'; from: string }
  | { t: 'end'; from: string; sid: string; reason: SessionEndReason }
  | { t: 'lock'; from: string; op: 'req' | 'held' | 'rel'; id: string; ts: number };

const mono = (): number => performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const randomId = (): string => Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
const unsafeMethod = (m: string): boolean => !['GET', 'HEAD', 'OPTIONS', 'TRACE'].includes(m.toUpperCase());

function documentCookie(name: string): string | undefined {
  const doc = (globalThis as { document?: { cookie?: string } }).document;
  if (!doc || typeof doc.cookie !== 'string') return undefined;
  for (const part of doc.cookie.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

async function readError(res: Response): Promise<BatonError> {
  let code = 'http_' + res.status;
  let description = res.statusText;
  try {
    const body = (await res.clone().json()) as { error?: unknown; error_description?: unknown };
    if (typeof body.error === 'string') code = body.error;
    if (typeof body.error_description === 'string') description = body.error_description;
  } catch {
    // not JSON: keep the status
  }
  return new BatonError(res.status, code, description);
}

// ------------------------------------------------------------- WebAuthn JSON

type JSONObject = Record<string, any>;

const B64URL = /^[A-Za-z0-9_-]*$/;

/** Base64url without padding (RFC 4648 §5), as WebAuthn's JSON forms use it. */
export function bufferToBase64url(data: ArrayBuffer | ArrayBufferView): string {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let bin = '';
  // Chunks keep String.fromCharCode's argument list short.
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Decodes base64url (correct padding tolerated); throws TypeError on anything else. */
export function base64urlToBuffer(s: string): ArrayBuffer {
  if (typeof s !== 'string') throw new TypeError('base64url: not a string');
  const t = s.replace(/={1,2}$/, '');
  // Padding, when present, must be the padding of t.
  const padded = t.length !== s.length && (s.length % 4 !== 0 || t.length % 4 === 0);
  if (!B64URL.test(t) || t.length % 4 === 1 || padded) throw new TypeError('base64url: not base64url');
  const bin = atob(t.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (t.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

const pkc = (): JSONObject | undefined => (globalThis as { PublicKeyCredential?: JSONObject }).PublicKeyCredential;

function descriptors(list: unknown): PublicKeyCredentialDescriptor[] | undefined {
  if (!Array.isArray(list)) return undefined;
  return list.map((d: JSONObject) => ({ ...d, id: base64urlToBuffer(d.id) }) as PublicKeyCredentialDescriptor);
}

/**
 * The server's `PublicKeyCredentialCreationOptionsJSON` as
 * navigator.credentials.create takes it: the browser's own
 * `PublicKeyCredential.parseCreationOptionsFromJSON` where there is one,
 * else the binary members (challenge, user.id, excludeCredentials[].id)
 * decoded here.
 */
export function creationOptionsFromJSON(json: JSONObject): PublicKeyCredentialCreationOptions {
  const native = pkc()?.parseCreationOptionsFromJSON;
  if (typeof native === 'function') return native.call(pkc(), json);
  const out: JSONObject = { ...json, challenge: base64urlToBuffer(json.challenge), user: { ...json.user, id: base64urlToBuffer(json.user?.id) } };
  if (json.excludeCredentials !== undefined) out.excludeCredentials = descriptors(json.excludeCredentials);
  return out as PublicKeyCredentialCreationOptions;
}

/** Likewise for `PublicKeyCredentialRequestOptionsJSON` (challenge, allowCredentials[].id). */
export function requestOptionsFromJSON(json: JSONObject): PublicKeyCredentialRequestOptions {
  const native = pkc()?.parseRequestOptionsFromJSON;
  if (typeof native === 'function') return native.call(pkc(), json);
  const out: JSONObject = { ...json, challenge: base64urlToBuffer(json.challenge) };
  if (json.allowCredentials !== undefined) out.allowCredentials = descriptors(json.allowCredentials);
  return out as PublicKeyCredentialRequestOptions;
}

/**
 * A credential as the server takes it (`RegistrationResponseJSON` or
 * `AuthenticationResponseJSON`): `credential.toJSON()` where the browser
 * has it, else built here from the binary members.
 */
export function credentialToJSON(cred: Credential): JSONObject {
  const c = cred as unknown as JSONObject;
  if (typeof c.toJSON === 'function') return c.toJSON();
  const r: JSONObject = c.response ?? {};
  const b = (x: unknown): string | undefined => (x instanceof ArrayBuffer || ArrayBuffer.isView(x) ? bufferToBase64url(x as ArrayBuffer) : undefined);
  const call = (name: string): unknown => {
    try {
      return typeof r[name] === 'function' ? r[name]() : undefined;
    } catch {
      return undefined; // e.g. getPublicKey for an algorithm the browser cannot export
    }
  };
  const response: JSONObject = { clientDataJSON: b(r.clientDataJSON) };
  if (r.attestationObject !== undefined) {
    response.attestationObject = b(r.attestationObject);
    response.authenticatorData = b(call('getAuthenticatorData'));
    response.transports = call('getTransports') ?? [];
    response.publicKey = b(call('getPublicKey'));
    response.publicKeyAlgorithm = call('getPublicKeyAlgorithm');
  } else {
    response.authenticatorData = b(r.authenticatorData);
    response.signature = b(r.signature);
    response.userHandle = r.userHandle ? b(r.userHandle) : null;
  }
  for (const k of Object.keys(response)) if (response[k] === undefined) delete response[k];
  return {
    id: c.id,
    rawId: b(c.rawId) ?? c.id,
    type: c.type ?? 'public-key',
    authenticatorAttachment: c.authenticatorAttachment ?? null,
    clientExtensionResults: typeof c.getClientExtensionResults === 'function' ? c.getClientExtensionResults() : {},
    response,
  };
}

/** What a failure of navigator.credentials means to the caller (see {@link PasskeyFailure}). */
export function passkeyErrorFrom(e: unknown, signal?: AbortSignal): PasskeyError {
  if (e instanceof PasskeyError) return e;
  const name = (e as { name?: unknown })?.name;
  const msg = String((e as { message?: unknown })?.message ?? e);
  if (signal?.aborted || name === 'AbortError') return new PasskeyError('aborted', 'the passkey prompt was aborted', e);
  switch (name) {
    case 'NotAllowedError':
      return new PasskeyError('cancelled', 'the passkey prompt was cancelled or timed out, or no passkey was available', e);
    case 'InvalidStateError':
      return new PasskeyError('already_registered', 'this authenticator already has a passkey for this account', e);
    case 'NotSupportedError':
      return new PasskeyError('unsupported', 'this browser or authenticator does not support these passkey options', e);
    case 'SecurityError':
      return new PasskeyError('security', `this page's origin does not fit the server's relying party: ${msg}`, e);
  }
  return new PasskeyError('failed', `the passkey ceremony failed: ${msg}`, e);
}

/** Thrown by calls that need a session when there is none. */
export class NoSessionError extends Error {
  constructor(readonly reason?: SessionEndReason) {
    super(reason ? `the session ended: ${reason}` : 'not logged in');
    this.name = 'NoSessionError';
  }
}

export class BatonClient {
  readonly baseUrl: string;
  readonly transport: Transport;
  private readonly origin: string;
  private readonly storage: RefreshTokenStorage;
  private readonly doFetch: typeof globalThis.fetch;
  private readonly getCookie: (name: string) => string | undefined;
  private readonly allowedOrigins: Set<string>;
  private readonly margin: (lifetimeMs: number) => number;
  private readonly lockName: string;
  private readonly lockTimeoutMs: number;
  private readonly useWebLocks: boolean;
  private readonly channel: BroadcastChannel | null;
  private readonly webauthn?: PasskeyCredentials;
  private readonly tabId = randomId();

  // Session state: all in memory.
  private accessToken: string | null = null;
  private refreshToken: string | null = null; // body transport only
  private sessionId: string | null = null;
  private deadline = 0; // performance.now() when the access token expires
  private absDeadline: number | null = null; // ... when the session expires
  private gen = 0; // rotation generation, shared by the tabs
  private rotations = 0; // rotations of the current session
  private serverOffset = 0; // server time minus Date.now(), from Date headers
  private active = false;
  private inflight: Promise<void> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;

  // BroadcastChannel election state.
  private remoteHolder: { id: string; until: number } | null = null;
  private myClaim: { id: string; ts: number; beaten: boolean } | null = null;
  private holding: string | null = null;
  private remoteClaims = new Map<string, { ts: number; seen: number }>();
  private lockWaiters: Array<() => void> = [];

  private readonly endListeners = new Set<Listener<SessionEndReason>>();
  private readonly refreshListeners = new Set<Listener<TokenRefreshedEvent>>();

  constructor(opts: BatonClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.origin = new URL(this.baseUrl).origin;
    this.transport = opts.transport ?? 'body';
    if (!['body', 'refresh_cookie', 'cookies'].includes(this.transport)) {
      throw new TypeError(`unknown transport ${String(this.transport)}`);
    }
    this.storage = opts.storage ?? new MemoryStorage();
    const f = opts.fetch ?? globalThis.fetch;
    this.doFetch = (input, init) => f.call(globalThis, input, init);
    this.getCookie = opts.getCookie ?? documentCookie;
    this.allowedOrigins = new Set([this.origin, ...(opts.resourceOrigins ?? []).map((o) => new URL(o).origin)]);
    this.margin = opts.refreshMarginMs ?? ((life) => Math.min(30_000, life / 3));
    this.lockName = opts.channelName ?? `baton:${this.baseUrl}`;
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 10_000;
    const nav = (globalThis as { navigator?: { locks?: unknown } }).navigator;
    this.useWebLocks = !opts.disableWebLocks && !!nav?.locks;
    this.webauthn = opts.credentials;
    const crossTab = opts.crossTab ?? true;
    if (crossTab && typeof BroadcastChannel === 'function') {
      this.channel = new BroadcastChannel(this.lockName);
      this.channel.onmessage = (e: MessageEvent) => this.onMessage(e.data as TabMessage);
      (this.channel as unknown as { unref?: () => void }).unref?.();
    } else {
      this.channel = null;
    }
  }

  /** Subscribes to the end of the session; returns the unsubscribe function. */
  onSessionEnd(listener: Listener<SessionEndReason>): () => void {
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  /** Subscribes to new access tokens (rotations, adoptions, reauth). */
  onTokenRefreshed(listener: Listener<TokenRefreshedEvent>): () => void {
    this.refreshListeners.add(listener);
    return () => this.refreshListeners.delete(listener);
  }

  /** Whether the client holds a session. */
  get loggedIn(): boolean {
    return this.active;
  }

  /** The current session id, or null. */
  get currentSessionId(): string | null {
    return this.sessionId;
  }

  /** Milliseconds until the access token expires (negative once it has); null without a session. */
  accessExpiresInMs(): number | null {
    return this.active ? this.deadline - mono() : null;
  }

  /** The server's clock as this client estimates it (ms since the epoch), from Date headers. */
  serverNow(): number {
    return Date.now() + this.serverOffset;
  }

  /** Stops timers and closes the channel to other tabs. */
  close(): void {
    this.closed = true;
    this.clearTimer();
    this.releaseGen?.();
    this.channel?.close();
  }

  // ---------------------------------------------------------------- API

  /** Registers; with `email` (or a username that is an address) a verification message is sent. */
  async register(username: string, password: string, email?: string): Promise<User> {
    const json: Record<string, string> = { username, password };
    if (email !== undefined) json.email = email;
    const res = await this.raw('/v1/register', { method: 'POST', json });
    if (!res.ok) throw await readError(res);
    return (await res.json()) as User;
  }

  /**
   * Asks for a password-reset message to the account's address. Resolves
   * the same whether or not such an account exists (the server does not
   * tell); throws {@link BatonError} `too_many_requests` when this client's
   * network asked too often. Needs no session.
   */
  async forgotPassword(who: ForgotPasswordRequest): Promise<void> {
    const json = 'email' in who ? { email: who.email } : { username: who.username };
    const res = await this.raw('/v1/password/forgot', { method: 'POST', json });
    if (!res.ok) throw await readError(res);
  }

  /**
   * Sets a new password with the token of a reset link. Every session of
   * the user ends, this client's included when it belongs to that user
   * (its next call reports `revoked`). Throws `invalid_link` (unknown,
   * used or expired) or `weak_password` (the token stays usable).
   */
  async resetPassword(token: string, newPassword: string): Promise<void> {
    const res = await this.raw('/v1/password/reset', { method: 'POST', json: { token, new_password: newPassword } });
    if (!res.ok) throw await readError(res);
  }

  /** Confirms an address (a verification or email-change link's token); throws `invalid_link`. Needs no session. */
  async verifyEmail(token: string): Promise<VerifiedEmail> {
    const res = await this.raw('/v1/email/verify', { method: 'POST', json: { token } });
    if (!res.ok) throw await readError(res);
    return (await res.json()) as VerifiedEmail;
  }

  /** Sends a new verification message; throws `no_email` or `already_verified`. */
  async resendVerification(): Promise<void> {
    const res = await this.fetch('/v1/email/verification', { method: 'POST' });
    if (!res.ok) throw await readError(res);
  }

  /**
   * Asks to change the address: a confirmation link goes to the new one,
   * which takes effect when {@link verifyEmail} is called with its token.
   * Needs a fresh token ({@link reauth}): otherwise throws
   * `insufficient_user_authentication` (401). Also `invalid_email`,
   * `email_taken`.
   */
  async changeEmail(email: string): Promise<void> {
    const res = await this.fetch('/v1/email', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email }) });
    if (!res.ok) throw await readError(res);
  }

  /**
   * Logs in with the password. Resolves to the token response, or — for a
   * user with a second factor — to `{mfaRequired: true, methods,
   * expiresInMs}`: no session yet; call {@link completeLogin} with a code.
   * Throws `invalid_credentials` for a wrong password.
   */
  async login(username: string, password: string): Promise<LoginResult> {
    this.secondStep = null;
    const t0 = mono();
    const res = await this.raw('/v1/login', {
      method: 'POST',
      json: { username, password, transport: this.transport },
    });
    if (!res.ok) return this.secondFactorOrThrow(res, 'login', t0);
    const tr = (await res.json()) as TokenResponse;
    this.rotations = 0;
    await this.apply(tr, t0, res, 'login', true);
    return tr;
  }

  /**
   * Finishes a {@link login} or {@link reauth} that resolved to
   * `{mfaRequired: true}`, with a code from the authenticator app
   * (`{totp}`), a recovery code (`{recoveryCode}`, spent by this use), or
   * one of the user's passkeys (`{passkey: true}`, when `methods` has
   * `passkey`: the browser asks the user for it). Resolves to what the
   * first step would have: a new session's token response for a login, the
   * fresh token for a reauth.
   *
   * A wrong code or passkey throws `invalid_credentials` (401) and the step
   * stays open, so the user can try again (five wrong answers end it); a
   * malformed code throws `invalid_code` (400). When the step is over —
   * finished, expired, ended by wrong codes, or never begun — it throws
   * `invalid_grant` (401): log in again. A passkey prompt the user
   * dismisses throws {@link PasskeyError} and the step stays open.
   */
  async completeLogin(factor: SecondFactor): Promise<TokenResponse> {
    const step = this.secondStep;
    if (!step) throw new BatonError(401, 'invalid_grant', 'no sign-in is waiting for a second factor: log in again');
    const json: Record<string, unknown> = { mfa_token: step.token };
    const closeOn = (err: BatonError): BatonError => {
      if (this.secondStep === step && (err.code === 'invalid_grant' || err.code === 'invalid_token')) this.secondStep = null;
      return err;
    };
    if ('passkey' in factor) {
      let flow: { options: JSONObject };
      try {
        flow = await this.passkeyFlow(this.raw('/v1/passkeys/login/options', { method: 'POST', json: { mfa_token: step.token } }));
      } catch (e) {
        throw e instanceof BatonError ? closeOn(e) : e;
      }
      json.passkey = await this.ceremony('get', flow.options, factor.signal);
    } else if ('totp' in factor) {
      json.totp = factor.totp;
    } else {
      json.recovery_code = factor.recoveryCode;
    }
    const t0 = mono();
    const res = await this.raw('/v1/login/mfa', { method: 'POST', json });
    if (!res.ok) throw closeOn(await readError(res));
    if (this.secondStep === step) this.secondStep = null;
    const tr = (await res.json()) as TokenResponse;
    if (step.purpose === 'reauth') {
      // The fresh token is for the session the reauth began in; one that
      // ended meanwhile is not revived.
      if (!this.active || tr.session_id !== this.sessionId) throw new NoSessionError();
      await this.apply(tr, t0, res, 'reauth', true);
    } else {
      this.rotations = 0;
      await this.apply(tr, t0, res, 'login', true);
    }
    return tr;
  }

  /**
   * The open second step of a {@link login} or {@link reauth}, or null:
   * which it finishes and the methods it takes.
   */
  get pendingSecondFactor(): { purpose: 'login' | 'reauth'; methods: SecondFactorMethod[] } | null {
    const step = this.secondStep;
    if (!step || mono() >= step.deadline) return null;
    return { purpose: step.purpose, methods: [...step.methods] };
  }

  /** Forgets an open second step (the user went back to the password form). */
  cancelSecondFactor(): void {
    this.secondStep = null;
  }

  // -------------------------------------------------------- second factors

  /**
   * Starts (or restarts) a TOTP enrolment: a new secret for an
   * authenticator app, not in force until {@link confirmTotp}. Needs a
   * fresh token, and once a second factor is on one that used it
   * (`insufficient_user_authentication` otherwise: {@link reauth}, then
   * {@link completeLogin}). So do {@link totpQrCode}, {@link confirmTotp}
   * and {@link regenerateRecoveryCodes}.
   */
  async beginTotp(): Promise<TotpEnrolment> {
    const res = await this.fetch('/v1/mfa/totp', { method: 'POST' });
    if (!res.ok) throw await readError(res);
    return (await res.json()) as TotpEnrolment;
  }

  /**
   * The QR code (a PNG) of the pending enrolment's otpauth URI, drawn by
   * the server; show it with `URL.createObjectURL`. Throws `not_found`
   * when nothing is pending. Needs what {@link beginTotp} needs.
   */
  async totpQrCode(): Promise<Blob> {
    const res = await this.fetch('/v1/mfa/totp/qr');
    if (!res.ok) throw await readError(res);
    return res.blob();
  }

  /**
   * Turns TOTP on with a code of the pending secret and resolves to the
   * ten recovery codes, which the server shows this once. Throws
   * `invalid_code` for a wrong code or when nothing is pending.
   */
  async confirmTotp(code: string): Promise<string[]> {
    return this.recoveryCodes('/v1/mfa/totp/confirm', { code });
  }

  /** Replaces the recovery codes by ten new ones (the old die); `not_found` without a second factor. Fresh token that used the factor. */
  async regenerateRecoveryCodes(): Promise<string[]> {
    return this.recoveryCodes('/v1/mfa/recovery-codes');
  }

  /**
   * Turns TOTP off and deletes the recovery codes. Needs a fresh token
   * that used the second factor: otherwise `insufficient_user_authentication`
   * (401) — call {@link reauth} (which then asks for a code) and try again.
   * `not_found` when TOTP is off.
   */
  async disableTotp(): Promise<void> {
    const res = await this.fetch('/v1/mfa/totp', { method: 'DELETE' });
    if (!res.ok) throw await readError(res);
  }

  // -------------------------------------------------------------- passkeys

  /**
   * Registers a passkey on this device (or a security key, or a phone) for
   * the user: the server's options, the browser's prompt, the answer back.
   * `name` labels it in {@link listPasskeys} (the server picks one when
   * omitted). Needs what {@link beginTotp} needs: a fresh token, and once a
   * second factor is on, one that used it (`insufficient_user_authentication`
   * otherwise). Throws {@link PasskeyError} when the browser's side fails
   * (`cancelled`, `already_registered`, …) and {@link BatonError} when the
   * server refuses (`invalid_credentials`, `too_many_passkeys`, …).
   */
  async addPasskey(name?: string, opts: { signal?: AbortSignal } = {}): Promise<Passkey> {
    const flow = await this.passkeyFlow(this.fetch('/v1/passkeys/register/options', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' }));
    const credential = await this.ceremony('create', flow.options, opts.signal);
    const json: Record<string, unknown> = { flow_id: flow.flow_id, credential };
    if (name !== undefined && name !== '') json.name = name;
    const res = await this.fetch('/v1/passkeys/register', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(json) });
    if (!res.ok) throw await readError(res);
    return (await res.json()) as Passkey;
  }

  /** The user's passkeys (`GET /v1/passkeys`); `not_found` when the server has passkeys off. */
  async listPasskeys(): Promise<Passkey[]> {
    const res = await this.fetch('/v1/passkeys');
    if (!res.ok) throw await readError(res);
    return ((await res.json()) as { passkeys: Passkey[] }).passkeys;
  }

  /**
   * Removes one of the user's passkeys. Needs a fresh token; removing the
   * last second factor (no TOTP, no other passkey) needs one that used it,
   * as {@link disableTotp} does. `not_found` for anything not the user's.
   */
  async removePasskey(id: string): Promise<void> {
    const res = await this.fetch(`/v1/passkeys/${encodeURIComponent(id)}`, { method: 'DELETE' });
    if (!res.ok) throw await readError(res);
  }

  /**
   * Signs in with a passkey and no username: the browser offers the
   * passkeys it holds for this site and the user picks one. The session
   * uses this client's transport. With user verification (a PIN or a
   * biometric) the tokens are fresh and `amr` is `["hwk", "mfa"]`.
   * Throws {@link PasskeyError} when the browser's side fails (`cancelled`
   * covers "no passkey here" too) and `invalid_credentials` (401) for
   * anything the server refuses (an unknown or removed passkey among them).
   * `mediation: 'conditional'` runs it as the autofill of a username field
   * (`autocomplete="username webauthn"`).
   */
  async loginWithPasskey(opts: { signal?: AbortSignal; mediation?: CredentialMediationRequirement } = {}): Promise<TokenResponse> {
    const flow = await this.passkeyFlow(this.raw('/v1/passkeys/login/options', { method: 'POST', json: {} }));
    const credential = await this.ceremony('get', flow.options, opts.signal, opts.mediation);
    this.secondStep = null;
    const t0 = mono();
    const res = await this.raw('/v1/passkeys/login', { method: 'POST', json: { flow_id: flow.flow_id, credential, transport: this.transport } });
    if (!res.ok) throw await readError(res);
    const tr = (await res.json()) as TokenResponse;
    this.rotations = 0;
    await this.apply(tr, t0, res, 'login', true);
    return tr;
  }

  /** The answer to the first half of a ceremony: its flow id and the options for the browser. */
  private async passkeyFlow(pending: Promise<Response>): Promise<{ flow_id: string; options: JSONObject }> {
    const res = await pending;
    if (!res.ok) throw await readError(res);
    return (await res.json()) as { flow_id: string; options: JSONObject };
  }

  /** Runs navigator.credentials (or the configured stand-in) and returns the answer as the server takes it. */
  private async ceremony(kind: 'create' | 'get', options: JSONObject, signal?: AbortSignal, mediation?: CredentialMediationRequirement): Promise<JSONObject> {
    const creds = this.webauthn ?? (globalThis as { navigator?: { credentials?: PasskeyCredentials } }).navigator?.credentials;
    if (!creds || typeof creds[kind] !== 'function') throw new PasskeyError('unsupported', 'this browser has no WebAuthn (navigator.credentials)');
    let cred: Credential | null;
    try {
      if (kind === 'create') {
        cred = await creds.create({ publicKey: creationOptionsFromJSON(options), signal });
      } else {
        const req: CredentialRequestOptions = { publicKey: requestOptionsFromJSON(options), signal };
        if (mediation) req.mediation = mediation;
        cred = await creds.get(req);
      }
    } catch (e) {
      throw passkeyErrorFrom(e, signal);
    }
    if (!cred) throw new PasskeyError('cancelled', 'the browser gave no passkey');
    return credentialToJSON(cred);
  }

  private async recoveryCodes(path: string, json?: unknown): Promise<string[]> {
    const init: RequestInit = { method: 'POST' };
    if (json !== undefined) {
      init.headers = { 'Content-Type': 'application/json' };
      init.body = JSON.stringify(json);
    }
    const res = await this.fetch(path, init);
    if (!res.ok) throw await readError(res);
    return ((await res.json()) as { recovery_codes: string[] }).recovery_codes;
  }

  /** The open second step: the server's mfa_token, never shown to callers. */
  private secondStep: { token: string; purpose: 'login' | 'reauth'; methods: SecondFactorMethod[]; deadline: number } | null = null;

  /** A failed first step: mfa_required opens the second step; anything else is thrown. */
  private async secondFactorOrThrow(res: Response, purpose: 'login' | 'reauth', t0: number): Promise<SecondFactorRequired> {
    const err = await readError(res);
    if (res.status !== 403 || err.code !== 'mfa_required') throw err;
    const body = (await res.json()) as { mfa_token?: unknown; methods?: unknown; expires_in?: unknown };
    if (typeof body.mfa_token !== 'string') throw err;
    const methods = (Array.isArray(body.methods) ? body.methods : []).filter((m): m is SecondFactorMethod => m === 'totp' || m === 'recovery_code' || m === 'passkey');
    const expiresInMs = (typeof body.expires_in === 'number' ? body.expires_in : 300) * 1000;
    this.secondStep = { token: body.mfa_token, purpose, methods, deadline: t0 + expiresInMs };
    return { mfaRequired: true, methods: [...methods], expiresInMs };
  }

  /**
   * Takes up a session that exists without this page having logged in: a
   * peer tab's (asked over the channel), else the stored refresh token
   * (`body`) or the refresh cookie (cookie transports, when the readable
   * baton_csrf cookie says there is one). Resolves to whether there is a
   * session now.
   */
  async resume(waitForTabsMs = 150): Promise<boolean> {
    if (this.active) return true;
    if (this.channel) {
      this.post({ t: 'hello', from: this.tabId });
      const until = mono() + waitForTabsMs;
      while (!this.active && mono() < until) await sleep(10);
      if (this.active) return true;
    }
    if (this.transport === 'body') {
      const rt = await this.storage.load();
      if (!rt) return false;
      this.refreshToken = rt;
    } else if (!this.getCookie('baton_csrf')) {
      return false;
    }
    this.active = true;
    this.rotations = 1; // it may have rotated before we came
    try {
      await this.refresh();
    } catch {
      // refresh ended the session or failed: report below
    }
    return this.active;
  }

  /**
   * Ends the session on the server (scope 'local', the default: this
   * session; 'global': every session of the user; 'others': all but this
   * one). Except with 'others', this and every other tab end with
   * 'logged_out'.
   */
  async logout(scope: 'local' | 'global' | 'others' = 'local'): Promise<void> {
    const headers = new Headers({ 'Content-Type': 'application/json' });
    const body: Record<string, string> = { scope };
    if (this.transport === 'body' && this.refreshToken) {
      body.refresh_token = this.refreshToken;
    } else if (this.transport !== 'cookies' && this.accessToken) {
      headers.set('Authorization', `Bearer ${this.accessToken}`);
    }
    this.addCsrf(headers);
    let failure: unknown = null;
    try {
      const res = await this.doFetch(this.url('/v1/logout'), {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        credentials: this.credentials(),
      });
      if (!res.ok && res.status !== 401) failure = await readError(res);
    } catch (e) {
      failure = e;
    }
    if (scope !== 'others') await this.end('logged_out', true);
    if (failure) throw failure;
  }

  /**
   * Verifies the password again; the new access token is fresh (API.md,
   * Freshness). For a user with a second factor it resolves to
   * `{mfaRequired: true, …}` instead: {@link completeLogin} then gives the
   * fresh token, which has used the second factor.
   */
  async reauth(password: string): Promise<LoginResult> {
    this.secondStep = null;
    const t0 = mono();
    const res = await this.fetch('/v1/reauth', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ password }) });
    if (!res.ok) return this.secondFactorOrThrow(res, 'reauth', t0);
    const tr = (await res.json()) as TokenResponse;
    await this.apply(tr, t0, res, 'reauth', true);
    return tr;
  }

  /** Changes the password: every session ends and this client moves to the new one. */
  async changePassword(currentPassword: string, newPassword: string): Promise<TokenResponse> {
    const t0 = mono();
    const res = await this.fetch('/v1/password', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ current_password: currentPassword, new_password: newPassword }),
    });
    if (!res.ok) throw await readError(res);
    const tr = (await res.json()) as TokenResponse;
    this.rotations = 0;
    await this.apply(tr, t0, res, 'password', true);
    return tr;
  }

  /** GET /v1/me. */
  async me(): Promise<User> {
    const res = await this.fetch('/v1/me');
    if (!res.ok) throw await readError(res);
    return (await res.json()) as User;
  }

  /**
   * fetch with the session: attaches the access token (or, with the cookies
   * transport, the cookies and the CSRF header), refreshes first when the
   * token is about to expire, and on `401 token_expired` refreshes and
   * retries once. A relative URL is resolved against baseUrl. The token is
   * attached only to the server's origin and `resourceOrigins`.
   */
  async fetch(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
    if (!this.active) throw new NoSessionError();
    const req = typeof input === 'string' && !/^[a-z][a-z0-9+.-]*:/i.test(input) ? this.url(input) : input;
    // Refresh first when the token is about to expire, or when the timer
    // is overdue (browsers throttle timers in background tabs).
    const due = this.timerAt;
    if (this.deadline - mono() < 1000 || (due !== null && due <= mono())) {
      await this.refresh().catch(() => undefined);
      if (!this.active) throw new NoSessionError();
    }
    // The generation tells whether the token changed since this request
    // went out (with the cookies transport there is no token to compare).
    const used = this.gen;
    const clone = req instanceof Request ? req.clone() : req;
    const res = await this.send(req, init);
    if (res.status !== 401) return res;
    const err = await readError(res);
    if (err.code === 'token_expired') {
      if (this.gen === used) await this.refresh();
      return this.send(clone, init);
    }
    if (err.code === 'invalid_token' && this.active) {
      if (this.gen !== used) return this.send(clone, init);
      if (this.isOwnOrigin(clone)) await this.end('revoked', true);
    }
    return res;
  }

  /**
   * Refreshes now, sharing one refresh among concurrent callers and, across
   * tabs, adopting another tab's rotation instead of repeating it.
   */
  refresh(): Promise<void> {
    if (!this.inflight) {
      this.inflight = this.refreshOnce().finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  // ------------------------------------------------------------ internals

  private url(path: string): string {
    return this.baseUrl + (path.startsWith('/') ? path : '/' + path);
  }

  private credentials(): RequestCredentials {
    return this.transport === 'body' ? 'same-origin' : 'include';
  }

  private addCsrf(h: Headers): void {
    if (this.transport === 'body') return;
    const csrf = this.getCookie('baton_csrf');
    if (csrf) h.set('X-CSRF-Token', csrf);
  }

  private isOwnOrigin(input: RequestInfo | URL): boolean {
    const u = input instanceof Request ? input.url : String(input);
    try {
      return new URL(u, this.baseUrl).origin === this.origin;
    } catch {
      return false;
    }
  }

  private raw(path: string, o: { method: string; json?: unknown }): Promise<Response> {
    return this.doFetch(this.url(path), {
      method: o.method,
      headers: o.json === undefined ? undefined : { 'Content-Type': 'application/json' },
      body: o.json === undefined ? undefined : JSON.stringify(o.json),
      credentials: this.credentials(),
    }).then((res) => {
      this.learnServerTime(res);
      return res;
    });
  }

  private async send(input: RequestInfo | URL, init: RequestInit): Promise<Response> {
    const target = input instanceof Request ? input.url : String(input);
    let origin = '';
    try {
      origin = new URL(target, this.baseUrl).origin;
    } catch {
      // leave empty: no token
    }
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    const method = init.method ?? (input instanceof Request ? input.method : 'GET');
    const ours = this.allowedOrigins.has(origin);
    if (ours && this.transport !== 'cookies' && this.accessToken) {
      headers.set('Authorization', `Bearer ${this.accessToken}`);
    }
    if (ours && this.transport !== 'body' && unsafeMethod(method)) this.addCsrf(headers);
    const res = await this.doFetch(input, {
      ...init,
      headers,
      credentials: init.credentials ?? (ours && this.transport === 'cookies' ? 'include' : undefined),
    });
    if (origin === this.origin) this.learnServerTime(res);
    return res;
  }

  /** Date has a one-second resolution: take the middle of its second. */
  private learnServerTime(res: Response): void {
    const d = res.headers.get('Date');
    if (!d) return;
    const t = Date.parse(d);
    if (!Number.isNaN(t)) this.serverOffset = t + 500 - Date.now();
  }

  /** Converts a server time to the monotonic clock. */
  private serverToMono(t: number): number {
    return mono() + (t - this.serverNow());
  }

  private monoToServer(m: number): number {
    return this.serverNow() + (m - mono());
  }

  private async apply(tr: TokenResponse, t0: number, res: Response, kind: TokenRefreshedEvent['kind'], broadcast: boolean): Promise<void> {
    this.learnServerTime(res);
    // Measured from when the request left: never later than the truth.
    this.deadline = t0 + tr.expires_in * 1000;
    if (tr.access_token) this.accessToken = tr.access_token;
    else if (this.transport === 'cookies') this.accessToken = null;
    if (tr.refresh_token_expires_in) this.absDeadline = t0 + tr.refresh_token_expires_in * 1000;
    if (this.transport === 'body' && tr.refresh_token) {
      this.refreshToken = tr.refresh_token;
      await this.storage.save(tr.refresh_token);
    }
    if (kind === 'refresh') this.rotations++;
    this.sessionId = tr.session_id;
    this.active = true;
    this.gen = Math.max(this.gen, this.lockedGen) + 1;
    this.schedule();
    if (broadcast) {
      this.broadcastState(kind);
      await this.publishGen();
    }
    this.emitRefreshed({ expiresInMs: this.deadline - mono(), sessionId: tr.session_id, source: 'this_tab', kind });
  }

  private broadcastState(kind: TokenRefreshedEvent['kind']): void {
    if (!this.active || !this.sessionId) return;
    this.post({
      t: 'state',
      from: this.tabId,
      gen: this.gen,
      sid: this.sessionId,
      access: this.accessToken,
      refresh: this.transport === 'body' ? this.refreshToken : null,
      exp: this.monoToServer(this.deadline),
      absExp: this.absDeadline === null ? null : this.monoToServer(this.absDeadline),
      rotations: this.rotations,
      kind,
    });
  }

  private post(m: TabMessage): void {
    try {
      this.channel?.postMessage(m);
    } catch {
      // closed
    }
  }

  private emitRefreshed(e: TokenRefreshedEvent): void {
    for (const l of this.refreshListeners) {
      try {
        l(e);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  private async end(reason: SessionEndReason, broadcast: boolean): Promise<void> {
    const wasActive = this.active;
    const sid = this.sessionId;
    this.active = false;
    this.accessToken = null;
    this.refreshToken = null;
    this.sessionId = null;
    this.absDeadline = null;
    this.rotations = 0;
    if (this.secondStep?.purpose === 'reauth') this.secondStep = null;
    this.clearTimer();
    if (this.transport === 'body') {
      try {
        await this.storage.save(null);
      } catch {
        // nothing more to do
      }
    }
    // Only a known session is ended elsewhere: a tab that failed to take
    // up a stale session must not end the others'.
    if (broadcast && sid) this.post({ t: 'end', from: this.tabId, sid, reason });
    if (!wasActive) return;
    for (const l of this.endListeners) {
      try {
        l(reason);
      } catch {
        // ignore
      }
    }
  }

  private timerAt: number | null = null;

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = null;
  }

  /** Arms the refresh timer: margin before the monotonic deadline. */
  private schedule(delayOverride?: number): void {
    this.clearTimer();
    if (!this.active || this.closed) return;
    const life = Math.max(0, this.deadline - mono());
    const delay = delayOverride ?? Math.max(0, life - this.margin(life));
    this.timerAt = mono() + delay;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.refresh().catch(() => {
        // a transient failure: try again soon, while the token lives
        if (this.active) this.schedule(Math.min(5000, Math.max(250, (this.deadline - mono()) / 2)));
      });
    }, delay);
    (this.timer as unknown as { unref?: () => void }).unref?.();
  }

  /** When (mono) and at which generation a rotation from another tab was adopted. */
  private adoptedAt = -Infinity;
  private adoptedGen = -1;

  private async refreshOnce(): Promise<void> {
    if (!this.active) throw new NoSessionError();
    // Another tab rotated a moment ago (its refresh and ours were meant
    // to be one, ours just started late): share it.
    if (this.gen === this.adoptedGen && mono() - this.adoptedAt < 300 && this.deadline - mono() > 1000) return;
    const genBefore = this.gen;
    await this.withTabLock(async () => {
      await this.catchUp();
      // Another tab may have rotated while we waited: adopt its token.
      if (this.gen !== genBefore && this.active && this.deadline - mono() > 1000) return;
      if (!this.active) throw new NoSessionError();
      await this.rotate();
    });
  }

  private async rotate(): Promise<void> {
    const headers = new Headers({ 'Content-Type': 'application/json' });
    const body: Record<string, string> = {};
    if (this.transport === 'body') {
      if (!this.refreshToken) this.refreshToken = (await this.storage.load()) ?? null;
      if (!this.refreshToken) {
        await this.end('revoked', true);
        throw new NoSessionError('revoked');
      }
      body.refresh_token = this.refreshToken;
    } else {
      this.addCsrf(headers);
    }
    const t0 = mono();
    const res = await this.doFetch(this.url('/v1/refresh'), {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      credentials: this.credentials(),
    });
    if (res.ok) {
      const tr = (await res.json()) as TokenResponse;
      await this.apply(tr, t0, res, 'refresh', true);
      return;
    }
    const err = await readError(res);
    if (err.code === 'invalid_grant' || err.code === 'invalid_request') {
      const reason: SessionEndReason =
        this.absDeadline !== null && mono() >= this.absDeadline - 1000
          ? 'expired'
          : this.rotations > 0
            ? 'reuse_detected'
            : 'revoked';
      await this.end(reason, true);
      throw new NoSessionError(reason);
    }
    throw err;
  }

  private onMessage(m: TabMessage): void {
    if (!m || m.from === this.tabId || this.closed) return;
    switch (m.t) {
      case 'state':
        if (m.gen > this.gen || (!this.active && m.sid)) {
          this.gen = Math.max(this.gen, m.gen);
          if (m.sid !== this.sessionId) this.rotations = 0;
          this.sessionId = m.sid;
          this.accessToken = m.access;
          if (m.refresh) {
            this.refreshToken = m.refresh;
            void this.storage.save(m.refresh);
          }
          this.deadline = this.serverToMono(m.exp);
          this.absDeadline = m.absExp === null ? null : this.serverToMono(m.absExp);
          this.rotations = Math.max(this.rotations, m.rotations);
          this.active = true;
          this.adoptedAt = mono();
          this.adoptedGen = this.gen;
          this.schedule();
          this.emitRefreshed({ expiresInMs: this.deadline - mono(), sessionId: m.sid, source: 'other_tab', kind: m.kind });
        }
        break;
      case 'hello':
        if (this.active) this.broadcastState('refresh');
        break;
      case 'end':
        if (this.active && m.sid === this.sessionId) void this.end(m.reason, false);
        break;
      case 'lock':
        this.onLockMessage(m);
        break;
    }
  }

  // ------------------------------------------------------------ tab lock

  /**
   * With Web Locks, the generation of the last rotation is also published
   * as a held lock named `<lock>:gen:<n>`. The lock manager is one
   * authority for every tab, so a tab that gets the refresh lock sees the
   * generation the previous holder published before releasing it, even
   * when that holder's BroadcastChannel message has not arrived yet; it
   * then waits (briefly) for the message instead of refreshing again.
   * (The BroadcastChannel election needs none of this: a holder's state
   * and release messages arrive in the order they were sent.)
   */
  private lockedGen = 0;
  private releaseGen: (() => void) | null = null;

  private async publishGen(): Promise<void> {
    if (!this.useWebLocks) return;
    const locks = (globalThis.navigator as Navigator).locks;
    const previous = this.releaseGen;
    await new Promise<void>((granted) => {
      locks
        .request(`${this.lockName}:gen:${this.gen}`, { ifAvailable: true }, (lock) => {
          granted();
          if (!lock) return undefined;
          return new Promise<void>((release) => {
            this.releaseGen = release;
          });
        })
        .catch(() => granted());
    });
    previous?.();
  }

  private async catchUp(): Promise<void> {
    if (!this.useWebLocks) return;
    const prefix = `${this.lockName}:gen:`;
    let max = 0;
    try {
      const snap = await (globalThis.navigator as Navigator).locks.query();
      for (const l of snap.held ?? []) {
        if (l.name?.startsWith(prefix)) max = Math.max(max, Number(l.name.slice(prefix.length)) || 0);
      }
    } catch {
      return;
    }
    this.lockedGen = Math.max(this.lockedGen, max);
    const until = mono() + 1000;
    while (this.gen < max && mono() < until) await sleep(5);
  }

  /** Runs fn while holding the cross-tab refresh lock (or without it, after the timeout). */
  private async withTabLock(fn: () => Promise<void>): Promise<void> {
    if (!this.channel && !this.useWebLocks) return fn();
    if (this.useWebLocks) {
      const locks = (globalThis.navigator as Navigator).locks;
      let ran = false;
      try {
        await locks.request(this.lockName, { signal: AbortSignal.timeout(this.lockTimeoutMs) }, async () => {
          ran = true;
          await fn();
        });
      } catch (e) {
        if (ran) throw e;
        // Timed out waiting: the holder is stuck. Refresh anyway; the
        // server's grace window covers a rare overlap.
        return fn();
      }
      return;
    }
    return this.withElection(fn);
  }

  /**
   * The fallback lock over BroadcastChannel: claim, wait for objections,
   * hold. Among simultaneous claims the smallest (time, id) wins; a holder
   * answers every claim with 'held'.
   */
  private async withElection(fn: () => Promise<void>): Promise<void> {
    const give = mono() + this.lockTimeoutMs;
    for (;;) {
      if (mono() > give) return fn();
      if (this.remoteHolder && this.remoteHolder.until > mono()) {
        await new Promise<void>((r) => {
          this.lockWaiters.push(r);
          setTimeout(r, 100);
        });
        continue;
      }
      const claim = { id: randomId(), ts: Date.now(), beaten: false };
      this.myClaim = claim;
      this.post({ t: 'lock', from: this.tabId, op: 'req', id: claim.id, ts: claim.ts });
      await sleep(40);
      this.myClaim = null;
      // Claims that reached us before ours went out count too.
      for (const [id, c] of this.remoteClaims) {
        if (mono() - c.seen > 300) this.remoteClaims.delete(id);
        else if (c.ts < claim.ts || (c.ts === claim.ts && id < claim.id)) claim.beaten = true;
      }
      if (claim.beaten || (this.remoteHolder && this.remoteHolder.until > mono())) {
        this.post({ t: 'lock', from: this.tabId, op: 'rel', id: claim.id, ts: claim.ts });
        await sleep(10 + Math.random() * 30);
        continue;
      }
      this.holding = claim.id;
      this.post({ t: 'lock', from: this.tabId, op: 'held', id: claim.id, ts: claim.ts });
      try {
        return await fn();
      } finally {
        this.holding = null;
        this.post({ t: 'lock', from: this.tabId, op: 'rel', id: claim.id, ts: claim.ts });
      }
    }
  }

  private onLockMessage(m: Extract<TabMessage, { t: 'lock' }>): void {
    switch (m.op) {
      case 'req':
        this.remoteClaims.set(m.id, { ts: m.ts, seen: mono() });
        if (this.holding) {
          this.post({ t: 'lock', from: this.tabId, op: 'held', id: this.holding, ts: 0 });
        } else if (this.myClaim && (m.ts < this.myClaim.ts || (m.ts === this.myClaim.ts && m.id < this.myClaim.id))) {
          this.myClaim.beaten = true;
        }
        break;
      case 'held':
        this.remoteClaims.delete(m.id);
        this.remoteHolder = { id: m.id, until: mono() + this.lockTimeoutMs };
        if (this.myClaim) this.myClaim.beaten = true;
        break;
      case 'rel':
        this.remoteClaims.delete(m.id);
        if (this.remoteHolder?.id === m.id) this.remoteHolder = null;
        for (const w of this.lockWaiters.splice(0)) w();
        break;
    }
  }
}
