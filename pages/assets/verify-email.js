// /account/verify-email#token=…: confirms an address (a new account's, or
// the new one of an email change) by posting the link's token.
import { $, withToken, post, say, offerSignIn, missing, dead, trouble } from './account.js';

let token = null;

async function verify() {
  $('retry').hidden = true;
  say('Checking your link…');
  const r = await post('/v1/email/verify', { token });
  if (r.status === 200) {
    say(`Your email address ${r.data.email} is confirmed. You can close this page.`, 'ok');
    offerSignIn();
  } else if (r.error === 'invalid_link') {
    say(`${dead} If your address is not confirmed yet, sign in and ask for a new message.`, 'error');
    offerSignIn();
  } else {
    say(trouble(r), 'error');
    $('retry').hidden = false;
  }
}

$('retry').addEventListener('click', verify);
withToken((t) => {
  token = t;
  if (token) verify();
  else say(missing, 'error');
});
document.body.dataset.ready = '1';
