// The SPA of the oidc-client-ts test and of docs/spa-oidc-client-ts.md:
// authorization code flow with PKCE through baton, tokens in
// sessionStorage, a same-origin API called with the access token, silent
// renewal with the refresh token, and RP-initiated logout. /config.js sets
// window.SPA_CONFIG = {authority, client_id}.
const { UserManager, WebStorageStateStore } = window.oidc;
const origin = window.location.origin;
const mgr = new UserManager({
  authority: window.SPA_CONFIG.authority,
  client_id: window.SPA_CONFIG.client_id,
  redirect_uri: origin + '/callback',
  post_logout_redirect_uri: origin + '/signed-out',
  response_type: 'code',
  scope: 'openid profile email offline_access',
  // The test renews on demand; an app would leave this on.
  automaticSilentRenew: false,
  userStore: new WebStorageStateStore({ store: window.sessionStorage }),
});

const $ = (id) => document.getElementById(id);
function log(msg) {
  const li = document.createElement('li');
  li.textContent = msg;
  $('log').append(li);
}

async function show() {
  const user = await mgr.getUser();
  $('user').textContent = user && !user.expired ? user.profile.preferred_username : 'nobody';
  window.currentUser = user; // read by the test
}

$('sign-in').addEventListener('click', () => mgr.signinRedirect().catch((e) => log('sign-in failed: ' + e.message)));
$('call-api').addEventListener('click', async () => {
  const user = await mgr.getUser();
  const res = await fetch('/api/hello', { headers: user ? { Authorization: 'Bearer ' + user.access_token } : {} });
  const body = await res.json();
  $('api').textContent = `${res.status} ${body.hello ?? body.error}`;
});
$('refresh').addEventListener('click', async () => {
  try {
    await mgr.signinSilent();
    log('refreshed');
  } catch (e) {
    log('refresh failed: ' + e.message);
  }
  await show();
});
$('sign-out').addEventListener('click', () => mgr.signoutRedirect().catch((e) => log('sign-out failed: ' + e.message)));

async function main() {
  const path = window.location.pathname;
  if (path === '/callback') {
    try {
      await mgr.signinRedirectCallback();
      log('signed in');
    } catch (e) {
      log('sign-in failed: ' + e.message);
    }
    window.history.replaceState({}, '', '/');
  } else if (path === '/signed-out') {
    await mgr.signoutRedirectCallback();
    log('signed out');
  }
  await show();
  document.body.dataset.ready = '1';
}
main().catch((e) => log('error: ' + e.message));
