// "Sign in with …" as a browser and the website's fetch code go through it, against the real
// OpenID provider (npm's oidc-provider, tests/oidc) the test command starts: Node's fetch
// follows every redirect (the provider's cookies kept, as a browser keeps them) from the
// service's authorize URL to the provider and back to the service's callback, which sends the
// browser to the website's page with a one-time code in the fragment; the page exchanges it.
// The service runs with OIDC_PROVIDERS=oidc (this provider, its addresses trusted) and
// OAUTH_REDIRECT_ALLOWLIST=http://localhost:3000/signed-in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, claims, followToPage, uniqueEmail } from '../support/index.mjs';

const url = process.env.AUTH_SERVICE_URL;
const issuer = process.env.OIDC_PROVIDER_URL;
assert.ok(url && issuer, 'AUTH_SERVICE_URL and OIDC_PROVIDER_URL must be set (scripts/test sets them)');
const PAGE = 'http://localhost:3000/signed-in';

async function account(sub, claimsOfIt) {
  const response = await fetch(`${issuer}/test/accounts`, { method: 'POST', body: JSON.stringify({ sub, ...claimsOfIt }) });
  assert.equal(response.status, 201);
}

test('sign in with an OpenID provider: redirects, a code in the fragment, its exchange once', async () => {
  const email = uniqueEmail('federated');
  const sub = `node-${email}`;
  await account(sub, { email, email_verified: true, name: 'Fed Erated' });
  const authorize = `${url}/api/oauth/oidc/authorize?redirect_to=${encodeURIComponent(PAGE)}`;
  const back = await followToPage(authorize, { page: PAGE, issuer, loginHint: sub });
  const fragment = new URLSearchParams(back.hash.slice(1));
  assert.equal(back.search, '', 'nothing in the query string');
  const code = fragment.get('code');
  assert.match(code, /^[A-Za-z0-9_-]{43}$/);

  const { postJson } = api(url);
  const exchanged = await postJson('/api/oauth/exchange', { code });
  assert.equal(exchanged.status, 200);
  const token = claims(exchanged.body.access_token);
  assert.deepEqual([token.email, token.amr, token.aal], [email.toLowerCase(), ['fed'], 'aal1']);
  assert.equal((await postJson('/api/oauth/exchange', { code })).status, 400, 'single use');

  const me = await api(url).call('GET', '/', { token: exchanged.body.access_token });
  assert.deepEqual([me.status, me.body.user.email_verified], [200, true]);
  const identities = await api(url).call('GET', '/api/identities', { token: exchanged.body.access_token });
  assert.deepEqual(identities.body.identities.map((identity) => identity.provider), ['oidc']);

  // A page outside the list gets no redirect at all.
  const outside = await fetch(`${url}/api/oauth/oidc/authorize?redirect_to=${encodeURIComponent('https://evil.example/')}`, {
    redirect: 'manual',
  });
  assert.deepEqual([outside.status, outside.headers.get('location')], [400, null]);
});
