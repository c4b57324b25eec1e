// A real passkey ceremony: headless Chromium with the DevTools protocol's virtual authenticator
// (CTAP2, resident keys, user verification) on a page of the service's own origin (nginx, as
// http://localhost:PORT, the replicas' WEBAUTHN_ORIGINS) registers a passkey through one
// replica, signs out, and signs in with no email typed through another replica of the same
// database. scripts/lib/replicas.sh sets PROXY_URL, REPLICA_URLS and MAIL_CATCHER_DIR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { PASSWORD as password, api, claims, uniqueEmail, verifyByMail } from '../support/index.mjs';

// The client package's dev tools hold the browser driver.
const require = createRequire(new URL('../../clients/js/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const proxy = process.env.PROXY_URL;
const replicas = (process.env.REPLICA_URLS ?? '').split(' ').filter(Boolean);
const mailDir = process.env.MAIL_CATCHER_DIR;
assert.ok(proxy && replicas.length >= 3 && mailDir, 'PROXY_URL, REPLICA_URLS and MAIL_CATCHER_DIR must be set');
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
// The first and the last replica: the middle one is the one replicas.test.mjs kills.
const [registering, signingIn] = [replicas[0], replicas[replicas.length - 1]];

test('a passkey made in Chromium on one replica signs in with no email typed on another', async () => {
  const email = uniqueEmail('passkey');
  const registered = await api(registering).call('POST', '/api/register', { json: { name: 'Ada', email, password } });
  assert.equal(registered.status, 201);
  await verifyByMail(registering, mailDir, email);

  const browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  try {
    const page = await browser.newPage();
    const devtools = await page.context().newCDPSession(page);
    await devtools.send('WebAuthn.enable');
    const { authenticatorId } = await devtools.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    const origin = proxy.replace('127.0.0.1', 'localhost');
    await page.goto(`${origin}/passkey-page/?replicas=${registering},${signingIn}`);
    await page.waitForFunction(() => window.ready === true);

    const added = await page.evaluate(
      async ({ email, password }) => {
        const [client] = window.clients;
        await client.login({ email, password });
        const passkey = await client.registerPasskey({ name: 'Chromium' });
        await client.logout();
        return passkey;
      },
      { email, password },
    );
    console.log('registered through', registering, JSON.stringify(added));
    assert.equal(added.name, 'Chromium');
    assert.equal(added.last_used_at, null);
    const { credentials } = await devtools.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0].isResidentCredential, true, 'a discoverable credential');
    assert.equal(credentials[0].rpId, 'localhost');

    // No email typed: the authenticator offers the site's passkey, which says whose it is.
    const signedIn = await page.evaluate(async () => {
      const client = window.clients[1];
      const result = await client.signInWithPasskey();
      return { result, me: await client.me(), token: await client.getAccessToken(), passkeys: await client.passkeys() };
    });
    console.log('signed in through', signingIn, JSON.stringify(signedIn.result), signedIn.me.email);
    assert.deepEqual(signedIn.result, { mfaRequired: false });
    assert.equal(signedIn.me.email, email);
    const token = claims(signedIn.token);
    console.log('access token amr', JSON.stringify(token.amr), 'aal', token.aal);
    assert.deepEqual(token.amr, ['hwk', 'mfa']);
    assert.equal(token.aal, 'aal2');
    assert.equal(signedIn.passkeys.length, 1);
    assert.ok(signedIn.passkeys[0].last_used_at, 'the sign-in is its last use');

    // Renamed and removed through the client; removed, it signs in no more.
    const after = await page.evaluate(async (id) => {
      const client = window.clients[1];
      const renamed = await client.renamePasskey(id, { name: 'Chromium (virtual)' });
      await client.removePasskey(id);
      await client.logout();
      const refused = await client.signInWithPasskey().then(
        () => null,
        (error) => ({ status: error.status, message: error.message }),
      );
      return { renamed: renamed.name, refused };
    }, added.id);
    assert.deepEqual(after, { renamed: 'Chromium (virtual)', refused: { status: 401, message: 'Passkey not accepted' } });
  } finally {
    await browser.close();
  }
});
