// Another service verifying the auth service's access tokens by itself, with node:crypto and
// the published JWKS only (no secret, no npm package); then the website's refresh and logout.
// Run by scripts/test with JWT_ALGORITHM=EdDSA and with the default HS256.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { api, settled } from '../support/index.mjs';

const url = process.env.AUTH_SERVICE_URL;
const algorithm = process.env.JWT_ALGORITHM ?? 'HS256';
assert.ok(url, 'AUTH_SERVICE_URL must point at a running auth-service');
const { postJson } = api(url);


const decode = (segment) => JSON.parse(Buffer.from(segment, 'base64url').toString());

// The issuer and audience this deployment's tokens carry (scripts/test starts it without
// JWT_ISSUER, PUBLIC_URL or JWT_AUDIENCE).
const ISSUER = process.env.JWT_ISSUER ?? 'auth-service';
const AUDIENCE = process.env.JWT_AUDIENCE ?? 'auth-service';

// What the other service does with a bearer token: an access token (typ at+jwt, RFC 9068), the
// key its kid names, the signature, then exp, iss and aud.
function verifyAccessToken(token, keys, now = Date.now() / 1000) {
  const [header, payload, signature] = token.split('.');
  const { alg, kid, typ } = decode(header);
  if (alg !== 'EdDSA') throw new Error(`unexpected alg ${alg}`);
  if (typ !== 'at+jwt') throw new Error(`not an access token: typ ${typ}`);
  const jwk = keys.find((key) => key.kid === kid);
  if (!jwk) throw new Error('unknown kid');
  const publicKey = createPublicKey({ key: jwk, format: 'jwk' });
  const signed = Buffer.from(`${header}.${payload}`);
  if (!verify(null, signed, publicKey, Buffer.from(signature, 'base64url'))) {
    throw new Error('bad signature');
  }
  const claims = decode(payload);
  if (!(typeof claims.exp === 'number' && claims.exp > now)) throw new Error('expired');
  if (claims.iss !== ISSUER) throw new Error(`issued by ${claims.iss}`);
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audiences.includes(AUDIENCE)) throw new Error(`for ${claims.aud}`);
  return claims;
}

test(`a second service verifies access tokens itself (${algorithm}); refresh and logout`, async () => {
  const email = `second-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
  const password = 'correct horse battery';
  assert.equal((await postJson('/api/register', { name: 'Second', email, password })).status, 201);
  const login = await postJson('/api/login', { email, password });
  assert.equal(login.status, 200);

  const jwksResponse = await fetch(url + '/.well-known/jwks.json');
  assert.equal(jwksResponse.status, 200);
  assert.match(jwksResponse.headers.get('cache-control'), /^public, max-age=\d+$/);
  const { keys } = await jwksResponse.json();
  const header = decode(login.body.access_token.split('.')[0]);
  assert.equal(header.alg, algorithm);
  assert.match(header.kid, /^[A-Za-z0-9_-]{43}$/);

  if (algorithm === 'EdDSA') {
    assert.equal(keys.length, 1);
    assert.deepEqual(
      { kty: keys[0].kty, crv: keys[0].crv, kid: keys[0].kid, use: keys[0].use, alg: keys[0].alg },
      { kty: 'OKP', crv: 'Ed25519', kid: header.kid, use: 'sig', alg: 'EdDSA' },
    );
    const claims = verifyAccessToken(login.body.access_token, keys);
    assert.equal(claims.email, email);
    const [h, p, s] = login.body.access_token.split('.');
    const forged = Buffer.from(JSON.stringify({ ...claims, email: 'admin@example.com' })).toString('base64url');
    assert.throws(() => verifyAccessToken(`${h}.${forged}.${s}`, keys), /bad signature/);
    assert.throws(() => verifyAccessToken(login.body.access_token, keys, claims.exp + 1), /expired/);
    assert.equal(claims.iss, ISSUER);
    assert.equal(claims.aud, AUDIENCE);
    assert.equal(header.typ, 'at+jwt');
  } else {
    // An HMAC secret is never published.
    assert.deepEqual(keys, []);
  }

  // The website refreshes before the access token expires and keeps the new pair.
  const refreshed = await postJson('/api/token/refresh', { refresh_token: login.body.refresh_token });
  assert.equal(refreshed.status, 200);
  assert.equal(refreshed.body.message, 'Token refreshed');
  assert.notEqual(refreshed.body.refresh_token, login.body.refresh_token);
  if (algorithm === 'EdDSA') {
    assert.equal(verifyAccessToken(refreshed.body.access_token, keys).sid, decode(login.body.access_token.split('.')[1]).sid);
  }
  const auth = { Authorization: `Bearer ${refreshed.body.access_token}` };
  assert.equal((await fetch(url + '/', { headers: auth })).status, 200);

  const logout = await postJson('/api/logout', {}, refreshed.body.access_token);
  assert.deepEqual(logout, { status: 200, body: { status: 'success', message: 'Logged out' } });
  const refused = await settled(() => fetch(url + '/', { headers: auth }), (answer) => answer.status === 401);
  assert.equal(refused.status, 401);
  const afterLogout = await postJson('/api/token/refresh', { refresh_token: refreshed.body.refresh_token });
  assert.deepEqual(afterLogout, { status: 401, body: { status: 'error', message: 'Invalid refresh token' } });
});
