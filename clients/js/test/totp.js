// An independent TOTP (RFC 6238 with SHA-1 and RFC 4226's dynamic
// truncation) on node:crypto, for the tests to compute the codes an
// authenticator app would show. mfa.test.js checks it against the RFC's
// vectors before it judges baton. Shared by the e2e tests.
import { createHmac } from 'node:crypto';

export const STEP_MS = 30_000;

/** Decodes RFC 4648 base32 (no padding needed, case-insensitive). */
export function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of s.toUpperCase().replace(/=+$/, '')) {
    const i = alphabet.indexOf(ch);
    if (i < 0) throw new Error(`not base32: ${s}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The code of time step `step` for the raw secret (a Buffer). */
export function hotp(secret, step, digits = 6) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const sum = createHmac('sha1', secret).update(msg).digest();
  const off = sum[sum.length - 1] & 0x0f;
  const bin = sum.readUInt32BE(off) & 0x7fffffff;
  return String(bin % 10 ** digits).padStart(digits, '0');
}

/** The time step of a moment (ms since the epoch). */
export const stepOf = (ms = Date.now()) => Math.floor(ms / STEP_MS);

/** The 6-digit code of a base32 secret at step (this step by default). */
export function totp(secretBase32, step = stepOf()) {
  return hotp(base32Decode(secretBase32), step, 6);
}

/**
 * Waits, when the current step ends within marginMs, for the next one: a
 * test that uses the codes of this step and its neighbours then has the
 * whole margin before the server's window moves.
 */
export async function awayFromStepEdge(marginMs = 4000) {
  const left = STEP_MS - (Date.now() % STEP_MS);
  if (left < marginMs) await new Promise((r) => setTimeout(r, left + 50));
}
