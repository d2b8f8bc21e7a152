// Passkeys on the sign-in and second-factor pages (/login): the one part of
// them that needs JavaScript. The button shows only where the browser has
// WebAuthn. A click asks the API for a challenge (with the mfa_token on the
// second-factor page), runs navigator.credentials.get, puts the flow id and
// the answer (AuthenticationResponseJSON, as text) into the passkey form's
// hidden inputs and submits the form to the page, which finishes the
// sign-in as its other forms do. A failure is said in the page's alert
// line, never with alert().
import { $, post, say, trouble } from './account.js';
import { requestOptionsFromJSON, credentialToJSON, passkeyErrorFrom } from './baton-client.js';

const form = $('passkey-form');
const button = $('passkey-button');

/** Words for a failed options request. */
function refused(r) {
  if (r.status === 404) return 'Passkeys are not available on this server. Use your password or a code.';
  if (r.error === 'invalid_grant') return 'This sign-in has expired. Start again from the application.';
  return trouble(r);
}

/** Words for a failed navigator.credentials.get. */
function failed(e) {
  switch (e.reason) {
    case 'cancelled':
    case 'aborted':
      return 'No passkey was used: the prompt was closed, timed out, or found no passkey for this site. Try again, or sign in another way.';
    case 'unsupported':
      return 'This browser cannot use passkeys here. Sign in another way.';
    case 'security':
      return 'This page\'s address does not fit the server\'s passkey settings. Ask the administrator.';
  }
  return `The passkey could not be used (${e.message}). Try again, or sign in another way.`;
}

async function signIn() {
  button.disabled = true;
  say('Waiting for your passkey…');
  const body = {};
  const mfa = form.elements.namedItem('mfa_token');
  if (mfa) body.mfa_token = mfa.value;
  const r = await post('/v1/passkeys/login/options', body);
  if (r.status !== 200 || !r.data || typeof r.data.flow_id !== 'string' || !r.data.options) {
    say(r.status === 200 ? 'The server answered something unexpected. Try again in a moment.' : refused(r), 'error');
    button.disabled = false;
    return;
  }
  // The options are the publicKey member; take a wrapped one too.
  const options = r.data.options.publicKey ?? r.data.options;
  let credential;
  try {
    credential = await navigator.credentials.get({ publicKey: requestOptionsFromJSON(options) });
    if (!credential) throw new DOMException('the browser gave no passkey', 'NotAllowedError');
  } catch (e) {
    say(failed(passkeyErrorFrom(e)), 'error');
    button.disabled = false;
    return;
  }
  form.elements.namedItem('flow_id').value = r.data.flow_id;
  form.elements.namedItem('credential').value = JSON.stringify(credentialToJSON(credential));
  say('Signing in…');
  form.submit();
}

if (form && button && window.PublicKeyCredential && navigator.credentials) {
  button.hidden = false;
  button.addEventListener('click', signIn);
  // A page brought back from the back-forward cache keeps a disabled
  // button.
  window.addEventListener('pageshow', () => {
    button.disabled = false;
  });
}
document.body.dataset.ready = '1';
