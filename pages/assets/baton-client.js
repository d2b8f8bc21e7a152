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
/** The default storage: memory only, gone with the page. */
export class MemoryStorage {
    token = null;
    load() {
        return this.token;
    }
    save(token) {
        this.token = token;
    }
}
/** Thrown when the browser's side of a passkey ceremony fails; see {@link PasskeyFailure}. */
export class PasskeyError extends Error {
    reason;
    cause;
    constructor(reason, message, cause) {
        super(message);
        this.reason = reason;
        this.cause = cause;
        this.name = 'PasskeyError';
    }
}
/** An error answer of the server: `{error, error_description}`. */
export class BatonError extends Error {
    status;
    code;
    description;
    constructor(status, code, description) {
        super(`${code}: ${description}`);
        this.status = status;
        this.code = code;
        this.description = description;
        this.name = 'BatonError';
    }
}
const mono = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const randomId = () => Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
const unsafeMethod = (m) => !['GET', 'HEAD', 'OPTIONS', 'TRACE'].includes(m.toUpperCase());
function documentCookie(name) {
    const doc = globalThis.document;
    if (!doc || typeof doc.cookie !== 'string')
        return undefined;
    for (const part of doc.cookie.split(';')) {
        const i = part.indexOf('=');
        if (i > 0 && part.slice(0, i).trim() === name)
            return decodeURIComponent(part.slice(i + 1).trim());
    }
    return undefined;
}
async function readError(res) {
    let code = 'http_' + res.status;
    let description = res.statusText;
    try {
        const body = (await res.clone().json());
        if (typeof body.error === 'string')
            code = body.error;
        if (typeof body.error_description === 'string')
            description = body.error_description;
    }
    catch {
        // not JSON: keep the status
    }
    return new BatonError(res.status, code, description);
}
const B64URL = /^[A-Za-z0-9_-]*$/;
/** Base64url without padding (RFC 4648 §5), as WebAuthn's JSON forms use it. */
export function bufferToBase64url(data) {
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let bin = '';
    // Chunks keep String.fromCharCode's argument list short.
    for (let i = 0; i < bytes.length; i += 0x8000)
        bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
/** Decodes base64url (correct padding tolerated); throws TypeError on anything else. */
export function base64urlToBuffer(s) {
    if (typeof s !== 'string')
        throw new TypeError('base64url: not a string');
    const t = s.replace(/={1,2}$/, '');
    // Padding, when present, must be the padding of t.
    const padded = t.length !== s.length && (s.length % 4 !== 0 || t.length % 4 === 0);
    if (!B64URL.test(t) || t.length % 4 === 1 || padded)
        throw new TypeError('base64url: not base64url');
    const bin = atob(t.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (t.length % 4)) % 4));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++)
        out[i] = bin.charCodeAt(i);
    return out.buffer;
}
const pkc = () => globalThis.PublicKeyCredential;
function descriptors(list) {
    if (!Array.isArray(list))
        return undefined;
    return list.map((d) => ({ ...d, id: base64urlToBuffer(d.id) }));
}
/**
 * The server's `PublicKeyCredentialCreationOptionsJSON` as
 * navigator.credentials.create takes it: the browser's own
 * `PublicKeyCredential.parseCreationOptionsFromJSON` where there is one,
 * else the binary members (challenge, user.id, excludeCredentials[].id)
 * decoded here.
 */
export function creationOptionsFromJSON(json) {
    const native = pkc()?.parseCreationOptionsFromJSON;
    if (typeof native === 'function')
        return native.call(pkc(), json);
    const out = { ...json, challenge: base64urlToBuffer(json.challenge), user: { ...json.user, id: base64urlToBuffer(json.user?.id) } };
    if (json.excludeCredentials !== undefined)
        out.excludeCredentials = descriptors(json.excludeCredentials);
    return out;
}
/** Likewise for `PublicKeyCredentialRequestOptionsJSON` (challenge, allowCredentials[].id). */
export function requestOptionsFromJSON(json) {
    const native = pkc()?.parseRequestOptionsFromJSON;
    if (typeof native === 'function')
        return native.call(pkc(), json);
    const out = { ...json, challenge: base64urlToBuffer(json.challenge) };
    if (json.allowCredentials !== undefined)
        out.allowCredentials = descriptors(json.allowCredentials);
    return out;
}
/**
 * A credential as the server takes it (`RegistrationResponseJSON` or
 * `AuthenticationResponseJSON`): `credential.toJSON()` where the browser
 * has it, else built here from the binary members.
 */
export function credentialToJSON(cred) {
    const c = cred;
    if (typeof c.toJSON === 'function')
        return c.toJSON();
    const r = c.response ?? {};
    const b = (x) => (x instanceof ArrayBuffer || ArrayBuffer.isView(x) ? bufferToBase64url(x) : undefined);
    const call = (name) => {
        try {
            return typeof r[name] === 'function' ? r[name]() : undefined;
        }
        catch {
            return undefined; // e.g. getPublicKey for an algorithm the browser cannot export
        }
    };
    const response = { clientDataJSON: b(r.clientDataJSON) };
    if (r.attestationObject !== undefined) {
        response.attestationObject = b(r.attestationObject);
        response.authenticatorData = b(call('getAuthenticatorData'));
        response.transports = call('getTransports') ?? [];
        response.publicKey = b(call('getPublicKey'));
        response.publicKeyAlgorithm = call('getPublicKeyAlgorithm');
    }
    else {
        response.authenticatorData = b(r.authenticatorData);
        response.signature = b(r.signature);
        response.userHandle = r.userHandle ? b(r.userHandle) : null;
    }
    for (const k of Object.keys(response))
        if (response[k] === undefined)
            delete response[k];
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
export function passkeyErrorFrom(e, signal) {
    if (e instanceof PasskeyError)
        return e;
    const name = e?.name;
    const msg = String(e?.message ?? e);
    if (signal?.aborted || name === 'AbortError')
        return new PasskeyError('aborted', 'the passkey prompt was aborted', e);
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
    reason;
    constructor(reason) {
        super(reason ? `the session ended: ${reason}` : 'not logged in');
        this.reason = reason;
        this.name = 'NoSessionError';
    }
}
export class BatonClient {
    baseUrl;
    transport;
    origin;
    storage;
    doFetch;
    getCookie;
    allowedOrigins;
    margin;
    lockName;
    lockTimeoutMs;
    useWebLocks;
    channel;
    webauthn;
    tabId = randomId();
    // Session state: all in memory.
    accessToken = null;
    refreshToken = null; // body transport only
    sessionId = null;
    deadline = 0; // performance.now() when the access token expires
    absDeadline = null; // ... when the session expires
    gen = 0; // rotation generation, shared by the tabs
    rotations = 0; // rotations of the current session
    serverOffset = 0; // server time minus Date.now(), from Date headers
    active = false;
    inflight = null;
    timer = null;
    closed = false;
    // BroadcastChannel election state.
    remoteHolder = null;
    myClaim = null;
    holding = null;
    remoteClaims = new Map();
    lockWaiters = [];
    endListeners = new Set();
    refreshListeners = new Set();
    constructor(opts) {
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
        const nav = globalThis.navigator;
        this.useWebLocks = !opts.disableWebLocks && !!nav?.locks;
        this.webauthn = opts.credentials;
        const crossTab = opts.crossTab ?? true;
        if (crossTab && typeof BroadcastChannel === 'function') {
            this.channel = new BroadcastChannel(this.lockName);
            this.channel.onmessage = (e) => this.onMessage(e.data);
            this.channel.unref?.();
        }
        else {
            this.channel = null;
        }
    }
    /** Subscribes to the end of the session; returns the unsubscribe function. */
    onSessionEnd(listener) {
        this.endListeners.add(listener);
        return () => this.endListeners.delete(listener);
    }
    /** Subscribes to new access tokens (rotations, adoptions, reauth). */
    onTokenRefreshed(listener) {
        this.refreshListeners.add(listener);
        return () => this.refreshListeners.delete(listener);
    }
    /** Whether the client holds a session. */
    get loggedIn() {
        return this.active;
    }
    /** The current session id, or null. */
    get currentSessionId() {
        return this.sessionId;
    }
    /** Milliseconds until the access token expires (negative once it has); null without a session. */
    accessExpiresInMs() {
        return this.active ? this.deadline - mono() : null;
    }
    /** The server's clock as this client estimates it (ms since the epoch), from Date headers. */
    serverNow() {
        return Date.now() + this.serverOffset;
    }
    /** Stops timers and closes the channel to other tabs. */
    close() {
        this.closed = true;
        this.clearTimer();
        this.releaseGen?.();
        this.channel?.close();
    }
    // ---------------------------------------------------------------- API
    /** Registers; with `email` (or a username that is an address) a verification message is sent. */
    async register(username, password, email) {
        const json = { username, password };
        if (email !== undefined)
            json.email = email;
        const res = await this.raw('/v1/register', { method: 'POST', json });
        if (!res.ok)
            throw await readError(res);
        return (await res.json());
    }
    /**
     * Asks for a password-reset message to the account's address. Resolves
     * the same whether or not such an account exists (the server does not
     * tell); throws {@link BatonError} `too_many_requests` when this client's
     * network asked too often. Needs no session.
     */
    async forgotPassword(who) {
        const json = 'email' in who ? { email: who.email } : { username: who.username };
        const res = await this.raw('/v1/password/forgot', { method: 'POST', json });
        if (!res.ok)
            throw await readError(res);
    }
    /**
     * Sets a new password with the token of a reset link. Every session of
     * the user ends, this client's included when it belongs to that user
     * (its next call reports `revoked`). Throws `invalid_link` (unknown,
     * used or expired) or `weak_password` (the token stays usable).
     */
    async resetPassword(token, newPassword) {
        const res = await this.raw('/v1/password/reset', { method: 'POST', json: { token, new_password: newPassword } });
        if (!res.ok)
            throw await readError(res);
    }
    /** Confirms an address (a verification or email-change link's token); throws `invalid_link`. Needs no session. */
    async verifyEmail(token) {
        const res = await this.raw('/v1/email/verify', { method: 'POST', json: { token } });
        if (!res.ok)
            throw await readError(res);
        return (await res.json());
    }
    /** Sends a new verification message; throws `no_email` or `already_verified`. */
    async resendVerification() {
        const res = await this.fetch('/v1/email/verification', { method: 'POST' });
        if (!res.ok)
            throw await readError(res);
    }
    /**
     * Asks to change the address: a confirmation link goes to the new one,
     * which takes effect when {@link verifyEmail} is called with its token.
     * Needs a fresh token ({@link reauth}): otherwise throws
     * `insufficient_user_authentication` (401). Also `invalid_email`,
     * `email_taken`.
     */
    async changeEmail(email) {
        const res = await this.fetch('/v1/email', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email }) });
        if (!res.ok)
            throw await readError(res);
    }
    /**
     * Logs in with the password. Resolves to the token response, or — for a
     * user with a second factor — to `{mfaRequired: true, methods,
     * expiresInMs}`: no session yet; call {@link completeLogin} with a code.
     * Throws `invalid_credentials` for a wrong password.
     */
    async login(username, password) {
        this.secondStep = null;
        const t0 = mono();
        const res = await this.raw('/v1/login', {
            method: 'POST',
            json: { username, password, transport: this.transport },
        });
        if (!res.ok)
            return this.secondFactorOrThrow(res, 'login', t0);
        const tr = (await res.json());
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
    async completeLogin(factor) {
        const step = this.secondStep;
        if (!step)
            throw new BatonError(401, 'invalid_grant', 'no sign-in is waiting for a second factor: log in again');
        const json = { mfa_token: step.token };
        const closeOn = (err) => {
            if (this.secondStep === step && (err.code === 'invalid_grant' || err.code === 'invalid_token'))
                this.secondStep = null;
            return err;
        };
        if ('passkey' in factor) {
            let flow;
            try {
                flow = await this.passkeyFlow(this.raw('/v1/passkeys/login/options', { method: 'POST', json: { mfa_token: step.token } }));
            }
            catch (e) {
                throw e instanceof BatonError ? closeOn(e) : e;
            }
            json.passkey = await this.ceremony('get', flow.options, factor.signal);
        }
        else if ('totp' in factor) {
            json.totp = factor.totp;
        }
        else {
            json.recovery_code = factor.recoveryCode;
        }
        const t0 = mono();
        const res = await this.raw('/v1/login/mfa', { method: 'POST', json });
        if (!res.ok)
            throw closeOn(await readError(res));
        if (this.secondStep === step)
            this.secondStep = null;
        const tr = (await res.json());
        if (step.purpose === 'reauth') {
            // The fresh token is for the session the reauth began in; one that
            // ended meanwhile is not revived.
            if (!this.active || tr.session_id !== this.sessionId)
                throw new NoSessionError();
            await this.apply(tr, t0, res, 'reauth', true);
        }
        else {
            this.rotations = 0;
            await this.apply(tr, t0, res, 'login', true);
        }
        return tr;
    }
    /**
     * The open second step of a {@link login} or {@link reauth}, or null:
     * which it finishes and the methods it takes.
     */
    get pendingSecondFactor() {
        const step = this.secondStep;
        if (!step || mono() >= step.deadline)
            return null;
        return { purpose: step.purpose, methods: [...step.methods] };
    }
    /** Forgets an open second step (the user went back to the password form). */
    cancelSecondFactor() {
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
    async beginTotp() {
        const res = await this.fetch('/v1/mfa/totp', { method: 'POST' });
        if (!res.ok)
            throw await readError(res);
        return (await res.json());
    }
    /**
     * The QR code (a PNG) of the pending enrolment's otpauth URI, drawn by
     * the server; show it with `URL.createObjectURL`. Throws `not_found`
     * when nothing is pending. Needs what {@link beginTotp} needs.
     */
    async totpQrCode() {
        const res = await this.fetch('/v1/mfa/totp/qr');
        if (!res.ok)
            throw await readError(res);
        return res.blob();
    }
    /**
     * Turns TOTP on with a code of the pending secret and resolves to the
     * ten recovery codes, which the server shows this once. Throws
     * `invalid_code` for a wrong code or when nothing is pending.
     */
    async confirmTotp(code) {
        return this.recoveryCodes('/v1/mfa/totp/confirm', { code });
    }
    /** Replaces the recovery codes by ten new ones (the old die); `not_found` without a second factor. Fresh token that used the factor. */
    async regenerateRecoveryCodes() {
        return this.recoveryCodes('/v1/mfa/recovery-codes');
    }
    /**
     * Turns TOTP off and deletes the recovery codes. Needs a fresh token
     * that used the second factor: otherwise `insufficient_user_authentication`
     * (401) — call {@link reauth} (which then asks for a code) and try again.
     * `not_found` when TOTP is off.
     */
    async disableTotp() {
        const res = await this.fetch('/v1/mfa/totp', { method: 'DELETE' });
        if (!res.ok)
            throw await readError(res);
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
    async addPasskey(name, opts = {}) {
        const flow = await this.passkeyFlow(this.fetch('/v1/passkeys/register/options', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' }));
        const credential = await this.ceremony('create', flow.options, opts.signal);
        const json = { flow_id: flow.flow_id, credential };
        if (name !== undefined && name !== '')
            json.name = name;
        const res = await this.fetch('/v1/passkeys/register', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(json) });
        if (!res.ok)
            throw await readError(res);
        return (await res.json());
    }
    /** The user's passkeys (`GET /v1/passkeys`); `not_found` when the server has passkeys off. */
    async listPasskeys() {
        const res = await this.fetch('/v1/passkeys');
        if (!res.ok)
            throw await readError(res);
        return (await res.json()).passkeys;
    }
    /**
     * Removes one of the user's passkeys. Needs a fresh token; removing the
     * last second factor (no TOTP, no other passkey) needs one that used it,
     * as {@link disableTotp} does. `not_found` for anything not the user's.
     */
    async removePasskey(id) {
        const res = await this.fetch(`/v1/passkeys/${encodeURIComponent(id)}`, { method: 'DELETE' });
        if (!res.ok)
            throw await readError(res);
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
    async loginWithPasskey(opts = {}) {
        const flow = await this.passkeyFlow(this.raw('/v1/passkeys/login/options', { method: 'POST', json: {} }));
        const credential = await this.ceremony('get', flow.options, opts.signal, opts.mediation);
        this.secondStep = null;
        const t0 = mono();
        const res = await this.raw('/v1/passkeys/login', { method: 'POST', json: { flow_id: flow.flow_id, credential, transport: this.transport } });
        if (!res.ok)
            throw await readError(res);
        const tr = (await res.json());
        this.rotations = 0;
        await this.apply(tr, t0, res, 'login', true);
        return tr;
    }
    /** The answer to the first half of a ceremony: its flow id and the options for the browser. */
    async passkeyFlow(pending) {
        const res = await pending;
        if (!res.ok)
            throw await readError(res);
        return (await res.json());
    }
    /** Runs navigator.credentials (or the configured stand-in) and returns the answer as the server takes it. */
    async ceremony(kind, options, signal, mediation) {
        const creds = this.webauthn ?? globalThis.navigator?.credentials;
        if (!creds || typeof creds[kind] !== 'function')
            throw new PasskeyError('unsupported', 'this browser has no WebAuthn (navigator.credentials)');
        let cred;
        try {
            if (kind === 'create') {
                cred = await creds.create({ publicKey: creationOptionsFromJSON(options), signal });
            }
            else {
                const req = { publicKey: requestOptionsFromJSON(options), signal };
                if (mediation)
                    req.mediation = mediation;
                cred = await creds.get(req);
            }
        }
        catch (e) {
            throw passkeyErrorFrom(e, signal);
        }
        if (!cred)
            throw new PasskeyError('cancelled', 'the browser gave no passkey');
        return credentialToJSON(cred);
    }
    async recoveryCodes(path, json) {
        const init = { method: 'POST' };
        if (json !== undefined) {
            init.headers = { 'Content-Type': 'application/json' };
            init.body = JSON.stringify(json);
        }
        const res = await this.fetch(path, init);
        if (!res.ok)
            throw await readError(res);
        return (await res.json()).recovery_codes;
    }
    /** The open second step: the server's mfa_token, never shown to callers. */
    secondStep = null;
    /** A failed first step: mfa_required opens the second step; anything else is thrown. */
    async secondFactorOrThrow(res, purpose, t0) {
        const err = await readError(res);
        if (res.status !== 403 || err.code !== 'mfa_required')
            throw err;
        const body = (await res.json());
        if (typeof body.mfa_token !== 'string')
            throw err;
        const methods = (Array.isArray(body.methods) ? body.methods : []).filter((m) => m === 'totp' || m === 'recovery_code' || m === 'passkey');
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
    async resume(waitForTabsMs = 150) {
        if (this.active)
            return true;
        if (this.channel) {
            this.post({ t: 'hello', from: this.tabId });
            const until = mono() + waitForTabsMs;
            while (!this.active && mono() < until)
                await sleep(10);
            if (this.active)
                return true;
        }
        if (this.transport === 'body') {
            const rt = await this.storage.load();
            if (!rt)
                return false;
            this.refreshToken = rt;
        }
        else if (!this.getCookie('baton_csrf')) {
            return false;
        }
        this.active = true;
        this.rotations = 1; // it may have rotated before we came
        try {
            await this.refresh();
        }
        catch {
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
    async logout(scope = 'local') {
        const headers = new Headers({ 'Content-Type': 'application/json' });
        const body = { scope };
        if (this.transport === 'body' && this.refreshToken) {
            body.refresh_token = this.refreshToken;
        }
        else if (this.transport !== 'cookies' && this.accessToken) {
            headers.set('Authorization', `Bearer ${this.accessToken}`);
        }
        this.addCsrf(headers);
        let failure = null;
        try {
            const res = await this.doFetch(this.url('/v1/logout'), {
                method: 'POST',
                headers,
                body: JSON.stringify(body),
                credentials: this.credentials(),
            });
            if (!res.ok && res.status !== 401)
                failure = await readError(res);
        }
        catch (e) {
            failure = e;
        }
        if (scope !== 'others')
            await this.end('logged_out', true);
        if (failure)
            throw failure;
    }
    /**
     * Verifies the password again; the new access token is fresh (API.md,
     * Freshness). For a user with a second factor it resolves to
     * `{mfaRequired: true, …}` instead: {@link completeLogin} then gives the
     * fresh token, which has used the second factor.
     */
    async reauth(password) {
        this.secondStep = null;
        const t0 = mono();
        const res = await this.fetch('/v1/reauth', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ password }) });
        if (!res.ok)
            return this.secondFactorOrThrow(res, 'reauth', t0);
        const tr = (await res.json());
        await this.apply(tr, t0, res, 'reauth', true);
        return tr;
    }
    /** Changes the password: every session ends and this client moves to the new one. */
    async changePassword(currentPassword, newPassword) {
        const t0 = mono();
        const res = await this.fetch('/v1/password', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ current_password: currentPassword, new_password: newPassword }),
        });
        if (!res.ok)
            throw await readError(res);
        const tr = (await res.json());
        this.rotations = 0;
        await this.apply(tr, t0, res, 'password', true);
        return tr;
    }
    /** GET /v1/me. */
    async me() {
        const res = await this.fetch('/v1/me');
        if (!res.ok)
            throw await readError(res);
        return (await res.json());
    }
    /**
     * fetch with the session: attaches the access token (or, with the cookies
     * transport, the cookies and the CSRF header), refreshes first when the
     * token is about to expire, and on `401 token_expired` refreshes and
     * retries once. A relative URL is resolved against baseUrl. The token is
     * attached only to the server's origin and `resourceOrigins`.
     */
    async fetch(input, init = {}) {
        if (!this.active)
            throw new NoSessionError();
        const req = typeof input === 'string' && !/^[a-z][a-z0-9+.-]*:/i.test(input) ? this.url(input) : input;
        // Refresh first when the token is about to expire, or when the timer
        // is overdue (browsers throttle timers in background tabs).
        const due = this.timerAt;
        if (this.deadline - mono() < 1000 || (due !== null && due <= mono())) {
            await this.refresh().catch(() => undefined);
            if (!this.active)
                throw new NoSessionError();
        }
        // The generation tells whether the token changed since this request
        // went out (with the cookies transport there is no token to compare).
        const used = this.gen;
        const clone = req instanceof Request ? req.clone() : req;
        const res = await this.send(req, init);
        if (res.status !== 401)
            return res;
        const err = await readError(res);
        if (err.code === 'token_expired') {
            if (this.gen === used)
                await this.refresh();
            return this.send(clone, init);
        }
        if (err.code === 'invalid_token' && this.active) {
            if (this.gen !== used)
                return this.send(clone, init);
            if (this.isOwnOrigin(clone))
                await this.end('revoked', true);
        }
        return res;
    }
    /**
     * Refreshes now, sharing one refresh among concurrent callers and, across
     * tabs, adopting another tab's rotation instead of repeating it.
     */
    refresh() {
        if (!this.inflight) {
            this.inflight = this.refreshOnce().finally(() => {
                this.inflight = null;
            });
        }
        return this.inflight;
    }
    // ------------------------------------------------------------ internals
    url(path) {
        return this.baseUrl + (path.startsWith('/') ? path : '/' + path);
    }
    credentials() {
        return this.transport === 'body' ? 'same-origin' : 'include';
    }
    addCsrf(h) {
        if (this.transport === 'body')
            return;
        const csrf = this.getCookie('baton_csrf');
        if (csrf)
            h.set('X-CSRF-Token', csrf);
    }
    isOwnOrigin(input) {
        const u = input instanceof Request ? input.url : String(input);
        try {
            return new URL(u, this.baseUrl).origin === this.origin;
        }
        catch {
            return false;
        }
    }
    raw(path, o) {
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
    async send(input, init) {
        const target = input instanceof Request ? input.url : String(input);
        let origin = '';
        try {
            origin = new URL(target, this.baseUrl).origin;
        }
        catch {
            // leave empty: no token
        }
        const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
        const method = init.method ?? (input instanceof Request ? input.method : 'GET');
        const ours = this.allowedOrigins.has(origin);
        if (ours && this.transport !== 'cookies' && this.accessToken) {
            headers.set('Authorization', `Bearer ${this.accessToken}`);
        }
        if (ours && this.transport !== 'body' && unsafeMethod(method))
            this.addCsrf(headers);
        const res = await this.doFetch(input, {
            ...init,
            headers,
            credentials: init.credentials ?? (ours && this.transport === 'cookies' ? 'include' : undefined),
        });
        if (origin === this.origin)
            this.learnServerTime(res);
        return res;
    }
    /** Date has a one-second resolution: take the middle of its second. */
    learnServerTime(res) {
        const d = res.headers.get('Date');
        if (!d)
            return;
        const t = Date.parse(d);
        if (!Number.isNaN(t))
            this.serverOffset = t + 500 - Date.now();
    }
    /** Converts a server time to the monotonic clock. */
    serverToMono(t) {
        return mono() + (t - this.serverNow());
    }
    monoToServer(m) {
        return this.serverNow() + (m - mono());
    }
    async apply(tr, t0, res, kind, broadcast) {
        this.learnServerTime(res);
        // Measured from when the request left: never later than the truth.
        this.deadline = t0 + tr.expires_in * 1000;
        if (tr.access_token)
            this.accessToken = tr.access_token;
        else if (this.transport === 'cookies')
            this.accessToken = null;
        if (tr.refresh_token_expires_in)
            this.absDeadline = t0 + tr.refresh_token_expires_in * 1000;
        if (this.transport === 'body' && tr.refresh_token) {
            this.refreshToken = tr.refresh_token;
            await this.storage.save(tr.refresh_token);
        }
        if (kind === 'refresh')
            this.rotations++;
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
    broadcastState(kind) {
        if (!this.active || !this.sessionId)
            return;
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
    post(m) {
        try {
            this.channel?.postMessage(m);
        }
        catch {
            // closed
        }
    }
    emitRefreshed(e) {
        for (const l of this.refreshListeners) {
            try {
                l(e);
            }
            catch {
                // a listener's failure is its own
            }
        }
    }
    async end(reason, broadcast) {
        const wasActive = this.active;
        const sid = this.sessionId;
        this.active = false;
        this.accessToken = null;
        this.refreshToken = null;
        this.sessionId = null;
        this.absDeadline = null;
        this.rotations = 0;
        if (this.secondStep?.purpose === 'reauth')
            this.secondStep = null;
        this.clearTimer();
        if (this.transport === 'body') {
            try {
                await this.storage.save(null);
            }
            catch {
                // nothing more to do
            }
        }
        // Only a known session is ended elsewhere: a tab that failed to take
        // up a stale session must not end the others'.
        if (broadcast && sid)
            this.post({ t: 'end', from: this.tabId, sid, reason });
        if (!wasActive)
            return;
        for (const l of this.endListeners) {
            try {
                l(reason);
            }
            catch {
                // ignore
            }
        }
    }
    timerAt = null;
    clearTimer() {
        if (this.timer !== null)
            clearTimeout(this.timer);
        this.timer = null;
        this.timerAt = null;
    }
    /** Arms the refresh timer: margin before the monotonic deadline. */
    schedule(delayOverride) {
        this.clearTimer();
        if (!this.active || this.closed)
            return;
        const life = Math.max(0, this.deadline - mono());
        const delay = delayOverride ?? Math.max(0, life - this.margin(life));
        this.timerAt = mono() + delay;
        this.timer = setTimeout(() => {
            this.timer = null;
            this.refresh().catch(() => {
                // a transient failure: try again soon, while the token lives
                if (this.active)
                    this.schedule(Math.min(5000, Math.max(250, (this.deadline - mono()) / 2)));
            });
        }, delay);
        this.timer.unref?.();
    }
    /** When (mono) and at which generation a rotation from another tab was adopted. */
    adoptedAt = -Infinity;
    adoptedGen = -1;
    async refreshOnce() {
        if (!this.active)
            throw new NoSessionError();
        // Another tab rotated a moment ago (its refresh and ours were meant
        // to be one, ours just started late): share it.
        if (this.gen === this.adoptedGen && mono() - this.adoptedAt < 300 && this.deadline - mono() > 1000)
            return;
        const genBefore = this.gen;
        await this.withTabLock(async () => {
            await this.catchUp();
            // Another tab may have rotated while we waited: adopt its token.
            if (this.gen !== genBefore && this.active && this.deadline - mono() > 1000)
                return;
            if (!this.active)
                throw new NoSessionError();
            await this.rotate();
        });
    }
    async rotate() {
        const headers = new Headers({ 'Content-Type': 'application/json' });
        const body = {};
        if (this.transport === 'body') {
            if (!this.refreshToken)
                this.refreshToken = (await this.storage.load()) ?? null;
            if (!this.refreshToken) {
                await this.end('revoked', true);
                throw new NoSessionError('revoked');
            }
            body.refresh_token = this.refreshToken;
        }
        else {
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
            const tr = (await res.json());
            await this.apply(tr, t0, res, 'refresh', true);
            return;
        }
        const err = await readError(res);
        if (err.code === 'invalid_grant' || err.code === 'invalid_request') {
            const reason = this.absDeadline !== null && mono() >= this.absDeadline - 1000
                ? 'expired'
                : this.rotations > 0
                    ? 'reuse_detected'
                    : 'revoked';
            await this.end(reason, true);
            throw new NoSessionError(reason);
        }
        throw err;
    }
    onMessage(m) {
        if (!m || m.from === this.tabId || this.closed)
            return;
        switch (m.t) {
            case 'state':
                if (m.gen > this.gen || (!this.active && m.sid)) {
                    this.gen = Math.max(this.gen, m.gen);
                    if (m.sid !== this.sessionId)
                        this.rotations = 0;
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
                if (this.active)
                    this.broadcastState('refresh');
                break;
            case 'end':
                if (this.active && m.sid === this.sessionId)
                    void this.end(m.reason, false);
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
    lockedGen = 0;
    releaseGen = null;
    async publishGen() {
        if (!this.useWebLocks)
            return;
        const locks = globalThis.navigator.locks;
        const previous = this.releaseGen;
        await new Promise((granted) => {
            locks
                .request(`${this.lockName}:gen:${this.gen}`, { ifAvailable: true }, (lock) => {
                granted();
                if (!lock)
                    return undefined;
                return new Promise((release) => {
                    this.releaseGen = release;
                });
            })
                .catch(() => granted());
        });
        previous?.();
    }
    async catchUp() {
        if (!this.useWebLocks)
            return;
        const prefix = `${this.lockName}:gen:`;
        let max = 0;
        try {
            const snap = await globalThis.navigator.locks.query();
            for (const l of snap.held ?? []) {
                if (l.name?.startsWith(prefix))
                    max = Math.max(max, Number(l.name.slice(prefix.length)) || 0);
            }
        }
        catch {
            return;
        }
        this.lockedGen = Math.max(this.lockedGen, max);
        const until = mono() + 1000;
        while (this.gen < max && mono() < until)
            await sleep(5);
    }
    /** Runs fn while holding the cross-tab refresh lock (or without it, after the timeout). */
    async withTabLock(fn) {
        if (!this.channel && !this.useWebLocks)
            return fn();
        if (this.useWebLocks) {
            const locks = globalThis.navigator.locks;
            let ran = false;
            try {
                await locks.request(this.lockName, { signal: AbortSignal.timeout(this.lockTimeoutMs) }, async () => {
                    ran = true;
                    await fn();
                });
            }
            catch (e) {
                if (ran)
                    throw e;
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
    async withElection(fn) {
        const give = mono() + this.lockTimeoutMs;
        for (;;) {
            if (mono() > give)
                return fn();
            if (this.remoteHolder && this.remoteHolder.until > mono()) {
                await new Promise((r) => {
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
                if (mono() - c.seen > 300)
                    this.remoteClaims.delete(id);
                else if (c.ts < claim.ts || (c.ts === claim.ts && id < claim.id))
                    claim.beaten = true;
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
            }
            finally {
                this.holding = null;
                this.post({ t: 'lock', from: this.tabId, op: 'rel', id: claim.id, ts: claim.ts });
            }
        }
    }
    onLockMessage(m) {
        switch (m.op) {
            case 'req':
                this.remoteClaims.set(m.id, { ts: m.ts, seen: mono() });
                if (this.holding) {
                    this.post({ t: 'lock', from: this.tabId, op: 'held', id: this.holding, ts: 0 });
                }
                else if (this.myClaim && (m.ts < this.myClaim.ts || (m.ts === this.myClaim.ts && m.id < this.myClaim.id))) {
                    this.myClaim.beaten = true;
                }
                break;
            case 'held':
                this.remoteClaims.delete(m.id);
                this.remoteHolder = { id: m.id, until: mono() + this.lockTimeoutMs };
                if (this.myClaim)
                    this.myClaim.beaten = true;
                break;
            case 'rel':
                this.remoteClaims.delete(m.id);
                if (this.remoteHolder?.id === m.id)
                    this.remoteHolder = null;
                for (const w of this.lockWaiters.splice(0))
                    w();
                break;
        }
    }
}
