// The OpenID provider the tests sign in against: npm's oidc-provider (an OpenID Certified
// implementation) on 127.0.0.1, started by the tests (tests/api/helpers/oidc.rs) and by
// scripts/test. Around it, only what a test needs to drive it without a person:
//
// - accounts are made by the test: POST /test/accounts {sub, email, email_verified, …claims};
// - the login and consent pages sign in the account the authorization request names in
//   `login_hint` and grant what it asked for, with no page shown;
// - the next ID token can be spoiled on its way out (POST /test/spoil {how}): signed by another
//   key, `alg: none`, another audience, expired, another nonce: what a forged or replayed token
//   looks like, for the relying party to refuse;
// - one client, `auth-service`, a native application, so any loopback port of
//   /api/oauth/{provider}/callback is its redirect URI (RFC 8252 §7.3);
// - GitHub's part: a second client, `auth-service-github`, whose secret comes in the token
//   request's form, asked for `openid` in place of GitHub's own scopes (which this provider
//   does not know), and GitHub's API at /github/user and /github/user/emails, reading the account's
//   `github` field {id, login, emails: [{email, primary, verified}]} by its access token.
// - Apple's part: a third client, `auth-service-apple`, whose secret comes in the form and is
//   checked as Apple checks it: an ES256 JWT signed with the key in apple-test-key.p8 (key id
//   APPLEKEY01), issued by the team TEAMID0001 for the client, to https://appleid.apple.com,
//   good for at most six months; anything else is `invalid_client`.
//
// Usage: node provider.mjs [PORT]  (0 or none: a free port). Prints "listening on PORT".
import http from 'node:http';
import { createPublicKey, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as jose from 'jose';
import Provider from 'oidc-provider';

export const CLIENT_ID = 'auth-service';
export const CLIENT_SECRET = 'auth-service-test-secret-0123456789';
const PROVIDERS = ['oidc', 'corp', 'google', 'apple', 'microsoft', 'github'];
const APPLE = {
  clientId: `${CLIENT_ID}-apple`,
  teamId: 'TEAMID0001',
  keyId: 'APPLEKEY01',
  publicKey: createPublicKey(readFileSync(new URL('apple-test-key.p8', import.meta.url))),
};

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

// The signing key, ours so that a spoiled token can be signed with it too.
const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await jose.exportJWK(privateKey)), kid: 'test-signing-key', alg: 'RS256', use: 'sig' };
const accounts = new Map();
let spoil = null;

// A native application, so any loopback port of the callback is a redirect URI (RFC 8252 §7.3).
const client = (clientId, method) => ({
  client_id: clientId,
  client_secret: CLIENT_SECRET,
  application_type: 'native',
  redirect_uris: PROVIDERS.map((name) => `http://127.0.0.1/api/oauth/${name}/callback`),
  response_types: ['code'],
  grant_types: ['authorization_code'],
  token_endpoint_auth_method: method,
});

const provider = new Provider(issuer, {
  clients: [
    client(CLIENT_ID, 'client_secret_basic'),
    client(`${CLIENT_ID}-github`, 'client_secret_post'),
    client(APPLE.clientId, 'client_secret_post'),
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomUUID()] },
  claims: { openid: ['sub', 'amr'], email: ['email', 'email_verified', 'xms_edov'], profile: ['name'] },
  // The claims an account has go into its ID token, not only to the userinfo endpoint.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false }, claimsParameter: { enabled: true } },
  responseModes: undefined,
  pkce: { required: () => true },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const account = accounts.get(sub);
    if (!account) return undefined;
    return { accountId: sub, claims: async () => ({ ...account, sub }) };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
  },
});
provider.proxy = false;

// A spoiled ID token: what the relying party must refuse.
async function spoiled(idToken, how) {
  const claims = jose.decodeJwt(idToken);
  const key = await jose.importJWK(signingKey, 'RS256');
  const sign = (payload, signWith = key) =>
    new jose.SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: signingKey.kid }).sign(signWith);
  switch (how) {
    case 'other-key':
      return sign(claims, (await jose.generateKeyPair('RS256')).privateKey);
    case 'alg-none': {
      const segment = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
      return `${segment({ alg: 'none', typ: 'JWT' })}.${segment(claims)}.`;
    }
    case 'wrong-audience':
      return sign({ ...claims, aud: 'another-client' });
    case 'expired':
      return sign({ ...claims, iat: claims.iat - 7200, exp: claims.iat - 3600 });
    case 'other-nonce':
      return sign({ ...claims, nonce: 'not-the-nonce' });
    default:
      throw new Error(`unknown spoil ${how}`);
  }
}

// GitHub's authorization request has its own scopes (`read:user user:email`), which this
// provider does not know: it gets `openid` instead.
provider.use(async (ctx, next) => {
  if (ctx.path === '/auth' && ctx.query.client_id === `${CLIENT_ID}-github`) {
    ctx.query = { ...ctx.query, scope: 'openid' };
  }
  await next();
});

provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/token' && ctx.method === 'POST' && spoil && ctx.body?.id_token) {
    const how = spoil;
    spoil = null;
    ctx.body = { ...ctx.body, id_token: await spoiled(ctx.body.id_token, how) };
  }
});

async function readText(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text;
}

async function readJson(req) {
  const text = await readText(req);
  return text ? JSON.parse(text) : {};
}

// Apple's token endpoint: the client secret must be the JWT Apple's rules describe. Checked
// here, then swapped for the secret oidc-provider knows the client by. Whether it is a valid
// secret is all that is asked; the body is handed on already read (oidc-provider reads
// `req.body` then).
async function appleTokenRequest(req) {
  const form = new URLSearchParams(await readText(req));
  if (form.get('client_id') === APPLE.clientId) {
    const secret = form.get('client_secret') ?? '';
    const { payload, protectedHeader } = await jose.jwtVerify(secret, APPLE.publicKey, {
      algorithms: ['ES256'],
      issuer: APPLE.teamId,
      subject: APPLE.clientId,
      audience: 'https://appleid.apple.com',
      requiredClaims: ['iat', 'exp'],
    });
    if (protectedHeader.kid !== APPLE.keyId || payload.exp - payload.iat > 15777000) {
      throw new Error('not a client secret Apple takes');
    }
    form.set('client_secret', CLIENT_SECRET);
  }
  req.body = form.toString();
}

// Signs in the account named by the request's login_hint and grants what it asked for.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params } = details;
  if (prompt.name === 'login') {
    const sub = params.login_hint;
    if (!accounts.has(sub)) {
      res.writeHead(400).end(`no test account ${sub}`);
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: sub, amr: accounts.get(sub).amr } });
    return;
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
  grant.addOIDCScope(params.scope);
  for (const claim of ['email', 'email_verified', 'amr', 'xms_edov']) grant.addOIDCClaims([claim]);
  await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } });
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  try {
    if (req.url === '/test/accounts' && req.method === 'POST') {
      const account = await readJson(req);
      accounts.set(account.sub, account);
      res.writeHead(201).end();
    } else if (req.url === '/test/spoil' && req.method === 'POST') {
      spoil = (await readJson(req)).how;
      res.writeHead(204).end();
    } else if (req.url === '/github/user' || req.url === '/github/user/emails') {
      const bearer = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      const token = await provider.AccessToken.find(bearer);
      const github = token && accounts.get(token.accountId)?.github;
      if (!github) {
        res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"message":"Bad credentials"}');
        return;
      }
      const body = req.url === '/github/user' ? { id: github.id, login: github.login, name: null } : github.emails;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    } else if (req.url.startsWith('/interaction/')) {
      await interaction(req, res);
    } else if (req.url === '/token' && req.method === 'POST') {
      try {
        await appleTokenRequest(req);
      } catch (error) {
        const body = { error: 'invalid_client', error_description: String(error.message) };
        res.writeHead(400, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
        return;
      }
      callback(req, res);
    } else {
      callback(req, res);
    }
  } catch (error) {
    res.writeHead(500).end(String(error?.stack ?? error));
  }
});

// The starter reads this line and may close the pipe: nothing else is written to it.
process.stdout.on('error', () => {});
console.log(`listening on ${port}`);
