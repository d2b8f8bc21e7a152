// A software authenticator for the client's tests: it stands in for
// navigator.credentials with a real P-256 key, real authenticator data
// and a real signature, and answers with objects shaped like a browser's
// PublicKeyCredential but without toJSON, so the client's own base64url
// conversion is what reaches the server. "none" attestation, discoverable
// credentials, user present and verified.
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

const sha256 = (b) => createHash('sha256').update(b).digest();
const ab = (b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
const b64url = (b) => Buffer.from(b).toString('base64url');

/** Just enough CBOR (RFC 8949) for a COSE key and an attestation object. */
export function cbor(v) {
  const head = (major, n) => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
    if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
    throw new RangeError('too long');
  };
  if (Number.isInteger(v)) return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (Buffer.isBuffer(v)) return Buffer.concat([head(2, v.length), v]);
  if (typeof v === 'string') {
    const s = Buffer.from(v);
    return Buffer.concat([head(3, s.length), s]);
  }
  if (v instanceof Map) return Buffer.concat([head(5, v.size), ...[...v].flatMap(([k, x]) => [cbor(k), cbor(x)])]);
  throw new TypeError('cbor: unsupported value');
}

/**
 * The authenticator: {create, get} for the client's `credentials` option,
 * the origin it puts in clientDataJSON, and what it holds. `refuse(kind)`
 * makes the next call of kind fail as a dismissed browser prompt does.
 */
export function softAuthenticator(origin) {
  const held = []; // {id, rpId, userHandle, privateKey, counter}
  const calls = [];
  let refusing = null;
  const clientData = (type, challenge) => Buffer.from(JSON.stringify({ type, challenge: b64url(challenge), origin, crossOrigin: false }));
  const refuseIf = (kind) => {
    if (refusing !== kind) return;
    refusing = null;
    throw new DOMException('The operation either timed out or was not allowed.', 'NotAllowedError');
  };
  return {
    held,
    calls,
    refuse(kind) {
      refusing = kind;
    },
    async create({ publicKey: pk }) {
      calls.push({ kind: 'create', publicKey: pk });
      refuseIf('create');
      const rpId = pk.rp.id;
      for (const d of pk.excludeCredentials ?? []) {
        if (held.some((c) => c.rpId === rpId && b64url(d.id) === c.id)) throw new DOMException('already registered', 'InvalidStateError');
      }
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const jwk = publicKey.export({ format: 'jwk' });
      const cose = cbor(new Map([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x, 'base64url')], [-3, Buffer.from(jwk.y, 'base64url')]]));
      const rawId = randomBytes(16);
      const len = Buffer.from([rawId.length >> 8, rawId.length & 0xff]);
      // flags: user present, user verified, attested credential data.
      const authData = Buffer.concat([sha256(rpId), Buffer.from([0x45, 0, 0, 0, 0]), Buffer.alloc(16), len, rawId, cose]);
      const attestation = cbor(new Map([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]));
      held.push({ id: b64url(rawId), rpId, userHandle: Buffer.from(pk.user.id), privateKey, counter: 0 });
      return {
        id: b64url(rawId),
        rawId: ab(rawId),
        type: 'public-key',
        authenticatorAttachment: 'platform',
        getClientExtensionResults: () => ({}),
        response: {
          clientDataJSON: ab(clientData('webauthn.create', pk.challenge)),
          attestationObject: ab(attestation),
          getTransports: () => ['internal'],
          getAuthenticatorData: () => ab(authData),
          getPublicKey: () => ab(publicKey.export({ type: 'spki', format: 'der' })),
          getPublicKeyAlgorithm: () => -7,
        },
      };
    },
    async get({ publicKey: pk, mediation }) {
      calls.push({ kind: 'get', publicKey: pk, mediation });
      refuseIf('get');
      const allowed = pk.allowCredentials?.map((d) => b64url(d.id));
      const c = held.find((x) => x.rpId === pk.rpId && (!allowed || allowed.includes(x.id)));
      if (!c) throw new DOMException('no credential', 'NotAllowedError');
      c.counter++;
      const authData = Buffer.concat([sha256(pk.rpId), Buffer.from([0x05, c.counter >>> 24, (c.counter >> 16) & 0xff, (c.counter >> 8) & 0xff, c.counter & 0xff])]);
      const cd = clientData('webauthn.get', pk.challenge);
      const signature = sign('sha256', Buffer.concat([authData, sha256(cd)]), c.privateKey);
      return {
        id: c.id,
        rawId: ab(Buffer.from(c.id, 'base64url')),
        type: 'public-key',
        authenticatorAttachment: 'platform',
        getClientExtensionResults: () => ({}),
        response: { clientDataJSON: ab(cd), authenticatorData: ab(authData), signature: ab(signature), userHandle: ab(c.userHandle) },
      };
    },
  };
}
