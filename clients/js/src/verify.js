// @auth-service/client/verify: other services check auth-service's access tokens themselves,
// with the public keys of its JWKS (EdDSA) and WebCrypto (Node 20+, browsers, workers).

const LEEWAY_SECONDS = 30;
// An unknown kid refetches the key set, but not more often than this (a flood of forged kids
// must not become a flood of requests to auth-service).
const MIN_REFETCH_MS = 10_000;

const keySets = new Map(); // jwksUrl -> { keys: Map(kid -> CryptoKey), expiresAt, fetchedAt }

function base64url(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function json(segment) {
  return JSON.parse(new TextDecoder().decode(base64url(segment)));
}

export class TokenError extends Error {
  constructor(message) {
    super(message);
    this.name = 'TokenError';
  }
}

async function fetchKeys(jwksUrl, fetchImpl) {
  const response = await fetchImpl(jwksUrl);
  if (!response.ok) throw new TokenError(`JWKS: HTTP ${response.status}`);
  const { keys = [] } = await response.json();
  const imported = new Map();
  for (const jwk of keys) {
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !jwk.kid) continue;
    const key = await crypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, { name: 'Ed25519' }, false, ['verify']);
    imported.set(jwk.kid, key);
  }
  const maxAge = /max-age=(\d+)/.exec(response.headers.get('cache-control') ?? '');
  const now = Date.now();
  const set = { keys: imported, fetchedAt: now, expiresAt: now + (maxAge ? Number(maxAge[1]) * 1000 : 0) };
  keySets.set(jwksUrl, set);
  return set;
}

async function keyFor(kid, jwksUrl, fetchImpl) {
  let set = keySets.get(jwksUrl);
  if (!set || Date.now() >= set.expiresAt) set = await fetchKeys(jwksUrl, fetchImpl);
  if (!set.keys.has(kid) && Date.now() - set.fetchedAt >= MIN_REFETCH_MS) {
    set = await fetchKeys(jwksUrl, fetchImpl);
  }
  const key = set.keys.get(kid);
  if (!key) throw new TokenError('unknown signing key');
  return key;
}

/**
 * The claims of a valid access token, or a TokenError saying why it is not one: signed with
 * EdDSA by a key of `jwksUrl` (cached for its Cache-Control max-age, fetched again for an
 * unknown `kid`), of type `at+jwt`, from `issuer`, for `audience`, within its lifetime.
 */
export async function verifyAccessToken(token, { jwksUrl, issuer, audience, fetch: fetchImpl = globalThis.fetch }) {
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3) throw new TokenError('not a JWT');
  let header, claims;
  try {
    header = json(parts[0]);
    claims = json(parts[1]);
  } catch {
    throw new TokenError('not a JWT');
  }
  if (header.alg !== 'EdDSA') throw new TokenError(`algorithm ${header.alg} is not EdDSA`);
  if (header.typ !== 'at+jwt') throw new TokenError('not an access token');
  const key = await keyFor(header.kid, jwksUrl, fetchImpl);
  const signed = new TextEncoder().encode(`${parts[0]}.${parts[1]}`);
  const valid = await crypto.subtle.verify({ name: 'Ed25519' }, key, base64url(parts[2]), signed);
  if (!valid) throw new TokenError('bad signature');
  const now = Date.now() / 1000;
  if (typeof claims.exp !== 'number' || claims.exp + LEEWAY_SECONDS < now) throw new TokenError('expired');
  if (typeof claims.nbf === 'number' && claims.nbf - LEEWAY_SECONDS > now) throw new TokenError('not yet valid');
  if (claims.iss !== issuer) throw new TokenError('another issuer');
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audiences.includes(audience)) throw new TokenError('another audience');
  return claims;
}
