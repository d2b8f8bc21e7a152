// /account/reset-password#token=…: sets a new password with the link's
// token. The form stays usable after a refusal (the token is only spent by
// a success).
import { $, withToken, post, say, offerSignIn, missing, dead, trouble } from './account.js';

let token = null;
const form = $('reset-form');
const pw = $('new-password');
const again = $('confirm-password');

// The browser's own check shows the message at the second field.
again.addEventListener('input', () => again.setCustomValidity(''));

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (pw.value !== again.value) {
    say('The two passwords differ. Type the same new password twice.', 'error');
    again.setCustomValidity('The two passwords differ.');
    again.focus();
    return;
  }
  const button = $('reset-button');
  button.disabled = true;
  say('Setting your new password…');
  try {
    const r = await post('/v1/password/reset', { token, new_password: pw.value });
    if (r.status === 204) {
      form.reset();
      form.hidden = true;
      say('Your password is changed, and every session of your account was signed out. Sign in again with the new password.', 'ok');
      offerSignIn();
    } else if (r.error === 'weak_password') {
      say(`That password cannot be used: ${r.description}. Choose another one.`, 'error');
      pw.focus();
      pw.select();
    } else if (r.error === 'invalid_link') {
      form.reset();
      form.hidden = true;
      say(`${dead} Ask for a new one where you sign in ("forgot password?").`, 'error');
      offerSignIn();
    } else {
      say(trouble(r), 'error');
    }
  } finally {
    button.disabled = false;
  }
});

withToken((t) => {
  token = t;
  if (token) {
    form.hidden = false;
    say('');
    pw.focus();
  } else {
    say(missing, 'error');
  }
});
document.body.dataset.ready = '1';
