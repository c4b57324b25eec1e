// The website's "forgot password" page, as its fetch code does it: ask for a code, read the
// message the real SMTP server received (scripts/test starts tests/smtp/catcher.py and points
// the service's SMTP_URL at it: MAIL_CATCHER_DIR is where it keeps messages), reset, and sign
// in with the new password; the old session's refresh token is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, messagesTo } from '../support/index.mjs';

const url = process.env.AUTH_SERVICE_URL;
const caught = process.env.MAIL_CATCHER_DIR;
assert.ok(url && caught, 'AUTH_SERVICE_URL and MAIL_CATCHER_DIR must be set (scripts/test sets them)');
const { postJson } = api(url);
const messageTo = async (email, subject) => (await messagesTo(caught, email, subject))[0];


test('forgot password: the mailed code resets it, and the old session ends', async () => {
  const email = `forgot-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
  const password = 'correct horse battery';
  const newPassword = 'a much longer passphrase';
  assert.equal((await postJson('/api/register', { name: 'Forgetful', email, password })).status, 201);
  const old = await postJson('/api/login', { email, password });
  assert.equal(old.status, 200);

  const asked = await postJson('/api/password/forgot', { email });
  assert.deepEqual(asked, {
    status: 202,
    body: { status: 'success', message: 'If that address has an account, a code is on its way' },
  });
  const message = await messageTo(email, 'Your password reset code');
  // The page reads the code from the link's fragment, as a browser would hand it over.
  const link = message.split('\r\n').find((line) => line.includes('/reset-password#'));
  const fragment = new URLSearchParams(new URL(link.trim()).hash.slice(1));
  assert.equal(fragment.get('email'), email);
  // The link carries a long code of its own, beside the six digits one would type.
  const code = fragment.get('code');
  assert.match(code, /^[A-Za-z0-9_-]{43}$/);
  assert.match(message, /Your code: \d{6}\b/);

  const reset = await postJson('/api/password/reset', { email, code, new_password: newPassword });
  assert.equal(reset.status, 200);
  assert.equal(reset.body.message, 'Password reset');
  assert.ok(reset.body.access_token && reset.body.refresh_token);

  const refused = await postJson('/api/token/refresh', { refresh_token: old.body.refresh_token });
  assert.deepEqual(refused, { status: 401, body: { status: 'error', message: 'Invalid refresh token' } });
  assert.equal((await postJson('/api/login', { email, password })).status, 401);
  assert.equal((await postJson('/api/login', { email, password: newPassword })).status, 200);
  await messageTo(email, 'Your password was changed');
});
