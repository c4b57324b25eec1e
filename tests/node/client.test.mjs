// The website's flow, as its Node clients do it: built-in fetch, FormData and Blob only.
// Run by scripts/test against the release binary: AUTH_SERVICE_URL=http://127.0.0.1:PORT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { api, png, settled } from '../support/index.mjs';

const url = process.env.AUTH_SERVICE_URL;
const uploadDir = process.env.UPLOAD_DIR;
assert.ok(url, 'AUTH_SERVICE_URL must point at a running auth-service');
const { postJson } = api(url);


test('register, login, profile, upload, logout', async () => {
  const email = `node-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
  const password = 'correct horse battery';

  const registered = await postJson('/api/register', { name: 'Node Client', email, password });
  assert.deepEqual(registered, {
    status: 201,
    body: { status: 'success', message: 'User registered successfully' },
  });

  const again = await postJson('/api/register', { name: 'Node Client', email: email.toUpperCase(), password });
  assert.deepEqual(again, { status: 400, body: { status: 'error', message: 'Email already registered' } });

  const badLogin = await postJson('/api/login', { email, password: 'wrong password' });
  assert.deepEqual(badLogin, { status: 401, body: { status: 'error', message: 'Invalid credentials' } });

  const login = await postJson('/api/login', { email, password });
  assert.equal(login.status, 200);
  const token = login.body.access_token;
  // The v1 body, field for field, plus the refresh token the token lifecycle added.
  assert.deepEqual(login.body, {
    status: 'success',
    message: 'Login successful!',
    access_token: token,
    token_type: 'Bearer',
    expires_in: 3600,
    refresh_token: login.body.refresh_token,
  });
  assert.match(login.body.refresh_token, /^[A-Za-z0-9_-]{43}$/);
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  assert.equal(claims.email, email);
  assert.equal(claims.exp - claims.iat, 3600);

  const auth = { Authorization: `Bearer ${token}` };
  let me = await fetch(url + '/', { headers: auth });
  assert.equal(me.status, 200);
  assert.deepEqual(await me.json(), {
    status: 'success',
    // email_verified was added after v1; the seed's fields are as they were.
    user: { name: 'Node Client', email, profile_pic_url: null, email_verified: false },
  });

  const form = new FormData();
  form.append('profile_pic', new Blob([png], { type: 'image/png' }), 'avatar.png');
  const upload = await fetch(url + '/api/upload_profile_pic', { method: 'POST', headers: auth, body: form });
  assert.equal(upload.status, 200);
  const uploaded = await upload.json();
  assert.equal(uploaded.status, 'success');
  assert.equal(uploaded.message, 'Profile picture updated');
  assert.match(uploaded.profile_pic_url, new RegExp(`^${url}/uploads/\\d+_avatar\\.png$`));
  const storedName = uploaded.profile_pic_url.split('/').pop();
  const picture = await fetch(uploaded.profile_pic_url);
  assert.equal(picture.status, 200);
  assert.equal(picture.headers.get('content-type'), 'image/png');
  assert.equal(picture.headers.get('x-content-type-options'), 'nosniff');
  const served = Buffer.from(await picture.arrayBuffer());
  // The service stores a re-encoded picture: still a 1x1 PNG, not necessarily the same bytes.
  assert.deepEqual(served.subarray(0, 8), png.subarray(0, 8));
  assert.equal(served.subarray(12, 16).toString(), 'IHDR');
  assert.deepEqual([served.readUInt32BE(16), served.readUInt32BE(20)], [1, 1]);
  if (uploadDir) {
    assert.deepEqual(readFileSync(join(uploadDir, storedName)), served);
    assert.ok(!readdirSync(uploadDir).some((name) => name.startsWith('.')), 'temporary file left behind');
  }

  me = await fetch(url + '/', { headers: auth });
  assert.equal((await me.json()).user.profile_pic_url, uploaded.profile_pic_url);

  const logout = await postJson('/api/logout', {}, token);
  assert.deepEqual(logout, { status: 200, body: { status: 'success', message: 'Logged out' } });

  // At once on the replica that logged out; on another within its cache's bound.
  me = await settled(() => fetch(url + '/', { headers: auth }), (answer) => answer.status === 401);
  assert.equal(me.status, 401);
  assert.equal(me.headers.get('www-authenticate'), 'Bearer');
  assert.deepEqual(await me.json(), { status: 'error', message: 'Not logged in' });

  const lateUpload = await fetch(url + '/api/upload_profile_pic', { method: 'POST', headers: auth, body: form });
  assert.equal(lateUpload.status, 401);
  assert.deepEqual(await lateUpload.json(), { status: 'error', message: 'Unauthorized' });
});

test('errors come back as JSON for a fetch client', async () => {
  const missing = await fetch(url + '/no/such/route');
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), { status: 'error', message: 'Not found' });

  // fetch sends a string body as text/plain unless told otherwise.
  const plain = await fetch(url + '/api/login', { method: 'POST', body: '{"email":"a@b.c"}' });
  assert.equal(plain.status, 415);
  assert.deepEqual(await plain.json(), { status: 'error', message: 'Content-Type must be application/json' });

  const cors = await fetch(url + '/healthz', { headers: { Origin: 'https://site.example' } });
  assert.equal(cors.headers.get('access-control-allow-origin'), '*');
  assert.deepEqual(await cors.json(), { status: 'ok' });
});
