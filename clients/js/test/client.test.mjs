// The package against the release binary (scripts/test starts it): AUTH_SERVICE_URL, the mail
// catcher's folder MAIL_CATCHER_DIR, JWT_ALGORITHM, and OIDC_PROVIDER_URL, the tests' OpenID
// provider the service signs in with as `oidc`. Run one file at a time
// (--test-concurrency=1): the refresh counts read the service's /metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthClient, AuthError, MemoryStorage } from '@auth-service/client';
import { verifyAccessToken } from '@auth-service/client/verify';
import { AdminClient } from '@auth-service/client/admin';
import http from 'node:http';
import { refreshes } from '../scripts/metrics.mjs';
import {
  PASSWORD as password,
  codeIn,
  followToPage,
  messagesTo,
  png,
  totpNow as totp,
} from '../../../tests/support/index.mjs';

const url = process.env.AUTH_SERVICE_URL;
const caught = process.env.MAIL_CATCHER_DIR;
const algorithm = process.env.JWT_ALGORITHM ?? 'HS256';
const issuer = process.env.OIDC_PROVIDER_URL;
const adminKey = process.env.AUTH_SERVICE_ADMIN_KEY;
assert.ok(url && caught && issuer && adminKey, 'AUTH_SERVICE_URL, MAIL_CATCHER_DIR, OIDC_PROVIDER_URL and AUTH_SERVICE_ADMIN_KEY must be set (scripts/test sets them)');
let counter = 0;
const newEmail = (tag) => `js-${tag}-${process.pid}-${++counter}@example.com`;


// The access token's expiry moved into the past, as if an hour had gone by.
function expire(storage) {
  const session = JSON.parse(storage.getItem('auth-service.session'));
  storage.setItem('auth-service.session', JSON.stringify({ ...session, expiresAt: Date.now() - 1000 }));
}

async function signedIn(tag, storage = new MemoryStorage()) {
  const auth = new AuthClient({ baseUrl: url, storage });
  const email = newEmail(tag);
  await auth.register({ name: 'JS Client', email, password });
  assert.deepEqual(await auth.login({ email, password }), { mfaRequired: false });
  return { auth, email, storage };
}

// The code of the first message to `email` with `subject`.
const mailedCode = async (email, subject) => codeIn((await messagesTo(caught, email, subject))[0]);

test('every method, as the website calls them', async () => {
  const auth = new AuthClient({ baseUrl: url });
  const email = newEmail('flow');
  assert.deepEqual(await auth.register({ name: 'JS Client', email, password }), {
    status: 'success',
    message: 'User registered successfully',
  });
  const taken = await auth.register({ name: 'JS Client', email, password }).catch((e) => e);
  assert.ok(taken instanceof AuthError);
  assert.deepEqual([taken.status, taken.message], [400, 'Email already registered']);
  const wrong = await auth.login({ email, password: 'wrong password' }).catch((e) => e);
  assert.deepEqual([wrong.status, wrong.message], [401, 'Invalid credentials']);

  const events = [];
  auth.onAuthStateChange((event) => events.push(event));
  assert.deepEqual(await auth.login({ email, password }), { mfaRequired: false });
  assert.deepEqual(await auth.verifyEmail({ email, code: await mailedCode(email, `Your code to verify ${email}`) }), {
    status: 'success',
    message: 'Email verified',
  });
  assert.deepEqual(await auth.me(), { name: 'JS Client', email, profile_pic_url: null, email_verified: true });

  const pictureUrl = await auth.uploadProfilePic(png, 'avatar.png');
  assert.match(pictureUrl, /\/uploads\/\d+_avatar\.png$/);
  assert.equal((await fetch(pictureUrl)).status, 200);
  assert.equal((await auth.me()).profile_pic_url, pictureUrl);

  const other = new AuthClient({ baseUrl: url });
  await other.login({ email, password });
  const sessions = await auth.sessions();
  assert.equal(sessions.length, 2);
  assert.deepEqual(sessions.map((s) => s.current).sort(), [false, true]);
  const otherId = sessions.find((s) => !s.current).id;
  assert.deepEqual(await auth.endSession(otherId), { status: 'success', message: 'Session ended' });
  assert.equal((await other.me().catch((e) => e)).status, 401);

  const viaFetch = await auth.fetch(`${url}/`);
  assert.equal(viaFetch.status, 200);
  assert.equal((await viaFetch.json()).user.email, email);

  const changed = await auth.changePassword({ currentPassword: password, newPassword: 'another good passphrase' });
  assert.equal(changed.message, 'Password changed');
  assert.equal((await auth.me()).email, email);

  await auth.forgotPassword({ email });
  const code = await mailedCode(email, 'Your password reset code');
  assert.deepEqual(await auth.resetPassword({ email, code, newPassword: 'a third passphrase' }), { mfaRequired: false });
  assert.equal((await auth.me()).email, email);

  assert.deepEqual(await auth.logout(), { status: 'success', message: 'Logged out' });
  const after = await auth.me().catch((e) => e);
  assert.deepEqual([after.status, after.message], [401, 'Not logged in']);
  assert.deepEqual(await auth.login({ email, password: 'a third passphrase' }), { mfaRequired: false });
  assert.deepEqual(await auth.deleteAccount({ password: 'a third passphrase' }), {
    status: 'success',
    message: 'Account deleted',
  });
  assert.deepEqual(events, ['SIGNED_IN', 'SIGNED_IN', 'SIGNED_OUT', 'SIGNED_IN', 'SIGNED_OUT']);
});

test('twenty concurrent calls with an expired access token refresh once', async () => {
  const { auth, storage } = await signedIn('single-flight');
  expire(storage);
  const before = await refreshes(url);
  const users = await Promise.all(Array.from({ length: 20 }, () => auth.me()));
  assert.equal(users.length, 20);
  assert.equal((await refreshes(url)) - before, 1);
});

test('two clients sharing a storage do not fork the session', async () => {
  const { storage } = await signedIn('shared');
  const first = new AuthClient({ baseUrl: url, storage });
  const second = new AuthClient({ baseUrl: url, storage });
  for (let round = 0; round < 3; round++) {
    expire(storage);
    const before = await refreshes(url);
    await Promise.all([first.me(), second.me(), first.me(), second.me()]);
    assert.equal((await refreshes(url)) - before, 1, `round ${round}`);
  }
  assert.equal((await second.sessions()).length, 1);
});

test('the session-ended event fires after logout everywhere from another client', async () => {
  const { auth, email } = await signedIn('ended');
  const ended = [];
  auth.onAuthStateChange((event, detail) => ended.push([event, detail.reason]));
  const elsewhere = new AuthClient({ baseUrl: url });
  await elsewhere.login({ email, password });
  await elsewhere.logout({ scope: 'all' });
  const refused = await auth.me().catch((e) => e);
  assert.ok(refused instanceof AuthError);
  assert.equal(refused.status, 401);
  assert.deepEqual(ended, [['SIGNED_OUT', 'refresh refused']]);
  assert.equal(await auth.getAccessToken(), null);
});

test('signInWith and completeSignIn: an outside provider, then its identity listed and unlinked', async () => {
  const page = 'http://localhost:3000/signed-in';
  const email = newEmail('federated');
  const sub = `js-${email}`;
  const made = await fetch(`${issuer}/test/accounts`, {
    method: 'POST',
    body: JSON.stringify({ sub, email, email_verified: true, name: 'JS Federated' }),
  });
  assert.equal(made.status, 201);
  const auth = new AuthClient({ baseUrl: url });
  const start = auth.signInWith('oidc', { redirectTo: page });
  assert.equal(start, `${url}/api/oauth/oidc/authorize?redirect_to=${encodeURIComponent(page)}`);
  const back = await followToPage(start, { page, issuer, loginHint: sub });
  assert.deepEqual(await auth.completeSignIn({ fragment: back.hash }), { mfaRequired: false });
  assert.deepEqual(await auth.me(), { name: 'JS Federated', email, profile_pic_url: null, email_verified: true });
  const [identity] = await auth.identities();
  assert.deepEqual([identity.provider, identity.email], ['oidc', email]);
  // The only way in of an account without a password stays.
  const refused = await auth.unlinkIdentity(identity.id).catch((e) => e);
  assert.deepEqual([refused.status, refused.message], [409, "This is the account's last way to sign in"]);
  const spent = await auth.completeSignIn({ fragment: back.hash }).catch((e) => e);
  assert.deepEqual([spent.status, spent.message], [400, 'Invalid or expired code']);
  const denied = await auth.completeSignIn({ fragment: '#error=access_denied' }).catch((e) => e);
  assert.deepEqual([denied.status, denied.message], [0, 'access_denied']);
});

test('linkIdentity from a signed-in page, and a link the address cannot make by itself confirmed with confirmLink', async () => {
  const page = 'http://localhost:3000/signed-in';
  const account = async (sub, claims) => {
    const made = await fetch(`${issuer}/test/accounts`, { method: 'POST', body: JSON.stringify({ sub, ...claims }) });
    assert.equal(made.status, 201);
  };
  const { auth, email } = await signedIn('link');
  await auth.verifyEmail({ email, code: await mailedCode(email, `Your code to verify ${email}`) });
  await account(`js-link-${email}`, { email: `other-${email}`, email_verified: true });
  const start = await auth.linkIdentity('oidc', { redirectTo: page });
  assert.ok(start.startsWith(`${issuer}/auth?`), start);
  const back = await followToPage(start, { page, issuer, loginHint: `js-link-${email}` });
  assert.deepEqual(await auth.completeSignIn({ fragment: back.hash }), { linked: true });
  assert.deepEqual((await auth.identities()).map((i) => [i.provider, i.email]), [['oidc', `other-${email}`]]);
  // The account's address, not proved by the provider: no session, a link token for the owner.
  await account(`js-claim-${email}`, { email, email_verified: false });
  const stranger = new AuthClient({ baseUrl: url });
  const start2 = stranger.signInWith('oidc', { redirectTo: page });
  const back2 = await followToPage(start2, { page, issuer, loginHint: `js-claim-${email}` });
  const required = await stranger.completeSignIn({ fragment: back2.hash });
  assert.deepEqual([required.linkRequired, required.provider, typeof required.linkToken], [true, 'oidc', 'string']);
  assert.equal(await stranger.getAccessToken(), null);
  const identity = await auth.confirmLink({ linkToken: required.linkToken });
  assert.deepEqual([identity.provider, identity.email], ['oidc', email]);
  assert.equal((await auth.identities()).length, 2);
});

test("AdminClient: a site's backend finds, disables, enables and deletes a user with an admin key", async () => {
  const { email } = await signedIn('admin');
  const admin = new AdminClient({ baseUrl: url, key: adminKey });
  const { users, nextCursor } = await admin.listUsers({ q: email });
  assert.equal(nextCursor, null);
  assert.deepEqual(users.map((u) => [u.email, u.name, u.status, u.email_verified, u.mfa]), [[email, 'JS Client', 'active', false, false]]);
  const id = users[0].id;
  const disabled = await admin.disableUser(id, { reason: 'js test', until: '2099-01-01T00:00:00Z' });
  assert.deepEqual([disabled.user.status, disabled.user.disabled_reason, disabled.sessions], ['disabled', 'js test', []]);
  const refused = await new AuthClient({ baseUrl: url }).login({ email, password }).catch((e) => e);
  assert.deepEqual([refused.status, refused.message], [403, 'Account disabled']);
  assert.equal((await admin.enableUser(id)).user.status, 'active');
  assert.deepEqual(await new AuthClient({ baseUrl: url }).login({ email, password }), { mfaRequired: false });
  assert.deepEqual((await admin.logoutUser(id)).sessions, []);
  assert.equal((await admin.verifyUserEmail(id)).user.email_verified, true);
  const noMfa = await admin.resetUserMfa(id).catch((e) => e);
  assert.deepEqual([noMfa.status, noMfa.message], [400, 'MFA not enabled']);
  assert.deepEqual(await admin.deleteUser(id), { status: 'success', message: 'User deleted' });
  const gone = await admin.getUser(id).catch((e) => e);
  assert.deepEqual([gone.status, gone.message], [404, 'User not found']);
  assert.throws(() => new AdminClient({ baseUrl: url, key: 'eyJhbGciOi' }), TypeError);
});

test('AdminClient: webhook endpoints added, listed, their secret rotated, removed', async () => {
  const admin = new AdminClient({ baseUrl: url, key: adminKey });
  const refused = await admin.addWebhook({ url: 'http://127.0.0.1:9/hook', events: ['*'] }).catch((e) => e);
  assert.equal(refused.status, 400);
  assert.match(refused.message, /WEBHOOK_ALLOW_PRIVATE/);
  const added = await admin.addWebhook({ url: 'https://hooks.example.com/auth', events: ['user.created', 'user.deleted'] });
  assert.match(added.secret, /^whsec_/);
  assert.deepEqual([added.webhook.url, added.webhook.events], ['https://hooks.example.com/auth', ['user.created', 'user.deleted']]);
  assert.ok((await admin.webhooks()).some((hook) => hook.id === added.webhook.id));
  const rotated = await admin.rotateWebhookSecret(added.webhook.id);
  assert.notEqual(rotated.secret, added.secret);
  assert.ok(rotated.webhook.previous_secret_until);
  assert.ok(Array.isArray(await admin.webhookDeliveries(added.webhook.id)));
  assert.deepEqual(await admin.removeWebhook(added.webhook.id), { status: 'success', message: 'Webhook removed' });
  const unknown = await admin.replayWebhookEvent('msg_unknown').catch((e) => e);
  assert.deepEqual([unknown.status, unknown.message], [404, 'Event not found']);
});

test('a code by mail signs in without the password', async () => {
  const email = newEmail('code');
  await new AuthClient({ baseUrl: url }).register({ name: 'JS Client', email, password });
  const auth = new AuthClient({ baseUrl: url });
  assert.deepEqual(await auth.requestSignInCode({ email }), {
    status: 'success',
    message: 'If that address has an account, a code is on its way',
  });
  const code = await mailedCode(email, 'Your sign-in code');
  assert.deepEqual(await auth.signInWithCode({ email, code }), { mfaRequired: false });
  assert.deepEqual(await auth.me(), { name: 'JS Client', email, profile_pic_url: null, email_verified: true });
  const again = await auth.signInWithCode({ email, code }).catch((e) => e);
  assert.deepEqual([again.status, again.message], [400, 'Invalid or expired code']);
});

test('a login with MFA waits for verifyMfa', async () => {
  const { auth, email } = await signedIn('mfa');
  await auth.verifyEmail({ email, code: await mailedCode(email, `Your code to verify ${email}`) });
  const enrolled = await auth.enrolTotp({ password });
  const before = await auth.getAccessToken();
  const recoveryCodes = await auth.confirmTotp({ code: totp(enrolled.secret) });
  assert.equal(recoveryCodes.length, 10);
  // The client goes on in the new session the service answered with, of level aal2.
  const after = await auth.getAccessToken();
  assert.notEqual(after, before);
  assert.equal(JSON.parse(Buffer.from(after.split('.')[1], 'base64url')).aal, 'aal2');
  assert.equal((await auth.me()).email, email);

  const fresh = new AuthClient({ baseUrl: url });
  const first = await fresh.login({ email, password });
  assert.equal(first.mfaRequired, true);
  assert.equal(first.expiresIn, 300);
  assert.equal(await fresh.getAccessToken(), null);
  assert.deepEqual(await fresh.verifyMfa({ mfaToken: first.mfaToken, recoveryCode: recoveryCodes[0] }), { mfaRequired: false });
  assert.equal((await fresh.me()).email, email);
  const bad = await fresh.verifyMfa({ mfaToken: first.mfaToken, code: '000000' }).catch((e) => e);
  assert.deepEqual([bad.status, bad.message], [401, 'Invalid code']);
});

test('verifyAccessToken checks a token with the JWKS alone', async () => {
  const { auth } = await signedIn('verify');
  const token = await auth.getAccessToken();
  const jwksUrl = `${url}/.well-known/jwks.json`;
  let fetched = 0;
  const counting = (input) => {
    fetched++;
    return fetch(input);
  };
  const options = { jwksUrl, issuer: 'auth-service', audience: 'auth-service', fetch: counting };
  if (algorithm !== 'EdDSA') {
    await assert.rejects(verifyAccessToken(token, options), { name: 'TokenError', message: 'algorithm HS256 is not EdDSA' });
    return;
  }
  const claims = await verifyAccessToken(token, options);
  assert.equal(claims.email, (await auth.me()).email);
  // Cached for the JWKS's max-age: a second check fetches nothing.
  await verifyAccessToken(token, options);
  assert.equal(fetched, 1);
  const [header, payload, signature] = token.split('.');
  const forged = Buffer.from(JSON.stringify({ ...claims, sub: '1' })).toString('base64url');
  await assert.rejects(verifyAccessToken(`${header}.${forged}.${signature}`, options), { message: 'bad signature' });
  await assert.rejects(verifyAccessToken(token, { ...options, audience: 'another' }), { message: 'another audience' });
  await assert.rejects(verifyAccessToken(token, { ...options, issuer: 'another' }), { message: 'another issuer' });
  const otherKid = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(header, 'base64url')), kid: 'rotated' })).toString('base64url');
  await assert.rejects(verifyAccessToken(`${otherKid}.${payload}.${signature}`, options), { message: 'unknown signing key' });
  assert.equal(fetched, 1, 'an unknown kid refetches at most every 10 s');
});

// A 2x2 JPEG, as a camera or a canvas makes one.
const jpeg = Buffer.from(
  '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAYEBQYFBAYGBQYHBwYIChAKCgkJChQODwwQFxQYGBcUFhYaHSUfGhsjHBYWICwgIyYnKSopGR8tMC0oMCUoKSj/2wBDAQcHBwoIChMKChMoGhYaKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCj/wAARCAACAAIDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDgKKKK+eP2E//Z',
  'base64',
);

test('a picture without a file name is named for its type', async () => {
  const { auth } = await signedIn('unnamed');
  assert.match(await auth.uploadProfilePic(jpeg), /\/uploads\/\d+_picture\.jpg$/);
  assert.match(await auth.uploadProfilePic(new Blob([jpeg], { type: 'image/jpeg' })), /_picture\.jpg$/);
  assert.match(await auth.uploadProfilePic(new Uint8Array(png)), /_picture\.png$/);
  assert.match(await auth.uploadProfilePic(jpeg, 'photo.jpg'), /_photo\.jpg$/);
});

test('calls refused after a signing-key change refresh once, however their 401s are spread', async () => {
  const { storage } = await signedIn('rotated');
  // A token the service no longer accepts, as one signed by a key it has since dropped.
  const session = JSON.parse(storage.getItem('auth-service.session'));
  const stale = session.accessToken.slice(0, -4) + (session.accessToken.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  storage.setItem('auth-service.session', JSON.stringify({ ...session, accessToken: stale }));
  // Its 401s come back 40 ms apart, as a browser's connections answer.
  let answered = 0;
  const spread = async (input, init) => {
    const response = await fetch(input, init);
    if (init.headers?.Authorization === `Bearer ${stale}`) {
      await new Promise((resolve) => setTimeout(resolve, 40 * answered++));
    }
    return response;
  };
  const auth = new AuthClient({ baseUrl: url, storage, fetch: spread });
  const before = await refreshes(url);
  const users = await Promise.all(Array.from({ length: 20 }, () => auth.me()));
  assert.equal(answered, 20);
  assert.equal(new Set(users.map((user) => user.email)).size, 1);
  assert.equal((await refreshes(url)) - before, 1);
});

test('the profile, email and MFA methods', async () => {
  const { auth, email } = await signedIn('account');
  assert.deepEqual(await auth.updateProfile({ name: 'Renamed' }), {
    name: 'Renamed',
    email,
    profile_pic_url: null,
    email_verified: false,
  });
  assert.deepEqual(await auth.resendVerification(), { status: 'success', message: 'Verification code sent' });
  const signedOut = new AuthClient({ baseUrl: url });
  assert.deepEqual(await signedOut.resendVerification({ email: newEmail('nobody') }), {
    status: 'success',
    message: 'If that address has an unverified account, a code is on its way',
  });
  const codes = (await messagesTo(caught, email, `Your code to verify ${email}`, 2)).map(codeIn);
  const verified = await Promise.all(codes.map((code) => auth.verifyEmail({ email, code }).then(() => 'ok', (e) => e.message)));
  assert.deepEqual(verified.sort(), ['Invalid or expired code', 'ok'], 'the resent code works and the one before it ended');

  const moved = newEmail('moved');
  assert.deepEqual(await auth.changeEmail({ newEmail: moved, password }), {
    status: 'success',
    message: 'Confirmation code sent to the new address',
  });
  const changed = await auth.confirmEmailChange({ code: await mailedCode(moved, `Your code to confirm ${moved}`) });
  assert.equal(changed.message, 'Email changed');
  assert.equal((await auth.me()).email, moved);

  const enrolment = await auth.enrolTotp({ password });
  assert.deepEqual(Object.keys(enrolment).sort(), ['otpauth_uri', 'secret']);
  assert.match(enrolment.otpauth_uri, /^otpauth:\/\/totp\//);
  const recovery = await auth.confirmTotp({ code: totp(enrolment.secret) });
  assert.equal(recovery.length, 10);
  // The session proved the second factor: changing the factors needs no new login.
  const renewed = await auth.renewRecoveryCodes({ password });
  assert.equal(renewed.length, 10);
  assert.equal(renewed.filter((code) => recovery.includes(code)).length, 0);
  // The confirmation spent this step's code; the next step's is accepted too.
  assert.deepEqual(await auth.disableTotp({ password, code: totp(enrolment.secret, 1) }), {
    status: 'success',
    message: 'MFA disabled',
  });
  assert.deepEqual(await auth.login({ email: moved, password }), { mfaRequired: false });
});

test('fetch sends the access token only to the service and the allowed origins', async () => {
  // Another site that notes what it was sent, and refuses /steal with a 401.
  const seen = [];
  const other = http.createServer((request, response) => {
    seen.push(request.headers.authorization ?? null);
    response.writeHead(request.url === '/steal' ? 401 : 200).end();
  });
  await new Promise((resolve) => other.listen(0, '127.0.0.1', resolve));
  const elsewhere = `http://127.0.0.1:${other.address().port}`;
  try {
    const { storage } = await signedIn('origins');
    const auth = new AuthClient({ baseUrl: url, storage });
    const before = await refreshes(url);
    assert.equal((await auth.fetch(`${elsewhere}/steal`)).status, 401);
    assert.deepEqual(seen, [null]);
    assert.equal((await refreshes(url)) - before, 0, 'a 401 from another origin is no reason to refresh');
    const allowed = new AuthClient({ baseUrl: url, storage, allowedOrigins: [elsewhere] });
    assert.equal((await allowed.fetch(`${elsewhere}/api/orders`)).status, 200);
    assert.deepEqual(seen, [null, `Bearer ${await auth.getAccessToken()}`]);
    assert.equal((await auth.fetch(`${url}/`)).status, 200);
  } finally {
    other.close();
  }
});
