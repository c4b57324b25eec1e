// @auth-service/client: the website's calls to auth-service, with tokens kept and refreshed.
// No runtime dependencies: fetch, FormData, Blob, and (in browsers) the Web Locks API and
// WebAuthn (`navigator.credentials`) for passkeys.

const SESSION_KEY = 'auth-service.session';
// Refresh this long before the access token runs out, so no request carries a dying token.
const REFRESH_MARGIN_MS = 60_000;

/** Every failure: the HTTP status and the contract's `message`. */
export class AuthError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = 'AuthError';
    this.status = status;
    this.body = body;
  }
}

/** Tokens in memory, for Node and for pages that log in on every load (the default). */
export class MemoryStorage {
  #items = new Map();
  getItem(key) {
    return this.#items.has(key) ? this.#items.get(key) : null;
  }
  setItem(key, value) {
    this.#items.set(key, String(value));
  }
  removeItem(key) {
    this.#items.delete(key);
  }
}

/** The browser's `localStorage`: the session survives a reload and is shared by tabs. */
export function localStorageStorage() {
  return globalThis.localStorage;
}

// The picture types the service takes, by their first bytes.
const SIGNATURES = [
  ['png', [0x89, 0x50, 0x4e, 0x47]],
  ['jpg', [0xff, 0xd8, 0xff]],
  ['gif', [0x47, 0x49, 0x46, 0x38]],
  ['webp', [0x52, 0x49, 0x46, 0x46, null, null, null, null, 0x57, 0x45, 0x42, 0x50]],
];
const EXTENSIONS = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/gif': 'gif', 'image/webp': 'webp' };

// An extension for a picture without a name: its Blob type's, else its bytes'. Bytes of no
// known type keep the old default and get the service's `Invalid file type`.
async function extensionOf(blob) {
  if (EXTENSIONS[blob.type]) return EXTENSIONS[blob.type];
  const head = new Uint8Array(await blob.slice(0, 12).arrayBuffer());
  const found = SIGNATURES.find(([, bytes]) => bytes.every((byte, i) => byte === null || head[i] === byte));
  return found ? found[0] : 'png';
}

// ---- WebAuthn's JSON forms ----
// The service sends options and takes credentials as WebAuthn Level 3's JSON (binary fields in
// base64url). Browsers that have `PublicKeyCredential.parse…OptionsFromJSON` and
// `credential.toJSON()` convert them; for the others, the same conversion by hand.

function fromBase64url(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer;
}

function toBase64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const withIds = (list) => (list ?? []).map((c) => ({ ...c, id: fromBase64url(c.id) }));

function creationOptions(json) {
  const parse = globalThis.PublicKeyCredential?.parseCreationOptionsFromJSON;
  if (typeof parse === 'function') return parse.call(globalThis.PublicKeyCredential, json);
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...json.user, id: fromBase64url(json.user.id) },
    excludeCredentials: withIds(json.excludeCredentials),
  };
}

function requestOptions(json) {
  const parse = globalThis.PublicKeyCredential?.parseRequestOptionsFromJSON;
  if (typeof parse === 'function') return parse.call(globalThis.PublicKeyCredential, json);
  return { ...json, challenge: fromBase64url(json.challenge), allowCredentials: withIds(json.allowCredentials) };
}

function credentialJSON(credential) {
  if (typeof credential.toJSON === 'function') return credential.toJSON();
  const { response } = credential;
  const json = {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment ?? undefined,
    clientExtensionResults: credential.getClientExtensionResults?.() ?? {},
    response: { clientDataJSON: toBase64url(response.clientDataJSON) },
  };
  if (response.attestationObject) {
    json.response.attestationObject = toBase64url(response.attestationObject);
    json.response.transports = response.getTransports?.() ?? [];
  } else {
    json.response.authenticatorData = toBase64url(response.authenticatorData);
    json.response.signature = toBase64url(response.signature);
    json.response.userHandle = response.userHandle ? toBase64url(response.userHandle) : null;
  }
  return json;
}

// Refreshes in flight, per storage: two clients sharing one storage in a process share one.
const inFlight = new WeakMap();

export class AuthClient {
  #baseUrl;
  #storage;
  #fetch;
  #credentials;
  #listeners = new Set();
  // Where `fetch` may send the access token: the service, the page's own origin, and
  // `allowedOrigins`.
  #origins;

  constructor({
    baseUrl,
    storage = new MemoryStorage(),
    fetch = globalThis.fetch.bind(globalThis),
    allowedOrigins = [],
    credentials = globalThis.navigator?.credentials,
  }) {
    this.#baseUrl = baseUrl.replace(/\/+$/, '');
    this.#storage = storage;
    this.#fetch = fetch;
    this.#credentials = credentials;
    const own = [this.#baseUrl, globalThis.location?.origin, ...allowedOrigins].filter(Boolean);
    this.#origins = new Set(own.map((url) => new URL(url).origin));
  }

  // ---- the session's tokens ----

  #session() {
    const text = this.#storage.getItem(SESSION_KEY);
    return text ? JSON.parse(text) : null;
  }

  #keep(body) {
    const session = {
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      expiresAt: Date.now() + body.expires_in * 1000,
    };
    this.#storage.setItem(SESSION_KEY, JSON.stringify(session));
    return session;
  }

  #end(reason) {
    const had = this.#session();
    this.#storage.removeItem(SESSION_KEY);
    if (had) this.#emit('SIGNED_OUT', { reason });
  }

  #emit(event, detail) {
    for (const listener of this.#listeners) listener(event, detail);
  }

  /** Calls `listener(event, detail)` on `SIGNED_IN`, `TOKEN_REFRESHED` and `SIGNED_OUT`
   * (a logout, or the session ended elsewhere: its refresh was refused). Returns the
   * function that stops it. */
  onAuthStateChange(listener) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The current access token, refreshed first when it is about to run out; null when signed out. */
  async getAccessToken() {
    const session = this.#session();
    if (!session) return null;
    if (session.expiresAt - Date.now() > REFRESH_MARGIN_MS) return session.accessToken;
    return (await this.#refresh(session.refreshToken))?.accessToken ?? null;
  }

  // One refresh at a time per storage (and per browser, with the Web Locks API): concurrent
  // callers wait for it and use its tokens, so the service never sees an honest client reuse a
  // spent refresh token.
  #refresh(spent) {
    const running = inFlight.get(this.#storage);
    if (running) return running;
    const refresh = this.#withLock(async (waited) => {
      let current = this.#session();
      // The tab that held the lock may have just written its tokens, and another tab's copy of
      // localStorage catches up a moment later.
      if (waited && current?.refreshToken === spent) current = await this.#settled(spent);
      // Another client (or tab) refreshed while this one waited: its tokens are the ones.
      if (!current) return null;
      if (current.refreshToken !== spent) return current;
      const response = await this.#send('POST', '/api/token/refresh', { json: { refresh_token: spent } });
      if (response.status === 200) {
        const session = this.#keep(response.body);
        this.#emit('TOKEN_REFRESHED', {});
        return session;
      }
      if (response.status === 401) {
        this.#end('refresh refused');
        return null;
      }
      throw new AuthError(response.status, response.body?.message ?? 'Refresh failed', response.body);
    }).finally(() => inFlight.delete(this.#storage));
    inFlight.set(this.#storage, refresh);
    return refresh;
  }

  // Runs `work(waited)` holding the browser-wide lock when there is one; `waited` says whether
  // another tab held it first.
  async #withLock(work) {
    const locks = globalThis.navigator?.locks;
    if (!locks) return work(false);
    const atOnce = await locks.request(SESSION_KEY, { ifAvailable: true }, async (lock) =>
      lock ? { value: await work(false) } : null,
    );
    return atOnce ? atOnce.value : locks.request(SESSION_KEY, () => work(true));
  }

  // The session once another tab's write of it arrives (its `storage` event), or as it is after
  // a quarter of a second.
  #settled(spent) {
    return new Promise((resolve) => {
      const done = () => {
        globalThis.removeEventListener?.('storage', changed);
        clearTimeout(timer);
        resolve(this.#session());
      };
      const changed = (event) => {
        if (event.key === SESSION_KEY && this.#session()?.refreshToken !== spent) done();
      };
      const timer = setTimeout(done, 250);
      globalThis.addEventListener?.('storage', changed);
    });
  }

  // ---- requests ----

  async #send(method, path, { json, form, token, query } = {}) {
    const headers = {};
    let body;
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (form) {
      body = form;
    }
    if (token) headers.Authorization = `Bearer ${token}`;
    const url = this.#baseUrl + path + (query ? `?${new URLSearchParams(query)}` : '');
    const response = await this.#fetch(url, { method, headers, body });
    const text = await response.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    return { status: response.status, body: parsed };
  }

  // A call the service answers with the contract's body: its body, or an AuthError.
  async #call(method, path, options = {}, ok = [200]) {
    const response = await this.#send(method, path, options);
    if (ok.includes(response.status)) return response.body;
    throw new AuthError(response.status, response.body?.message ?? `HTTP ${response.status}`, response.body);
  }

  // The tokens to retry with after `refused` got a 401: the ones another call already put in
  // its place (after a signing-key change every call in flight gets a 401, and one refresh
  // serves them all), else a refresh's.
  async #after401(refused) {
    const current = this.#session();
    if (current && current.accessToken !== refused) return current;
    return this.#refresh(current?.refreshToken);
  }

  // A call with the access token: refreshed first if due, and once more on a 401.
  async #authed(method, path, options = {}) {
    const token = await this.getAccessToken();
    if (!token) throw new AuthError(401, 'Not logged in', null);
    let response = await this.#send(method, path, { ...options, token });
    if (response.status === 401) {
      const session = await this.#after401(token);
      if (!session) throw new AuthError(401, response.body?.message ?? 'Not logged in', response.body);
      response = await this.#send(method, path, { ...options, token: session.accessToken });
    }
    if (response.status >= 200 && response.status < 300) return response.body;
    throw new AuthError(response.status, response.body?.message ?? `HTTP ${response.status}`, response.body);
  }

  // ---- the endpoints ----

  register({ name, email, password }) {
    return this.#call('POST', '/api/register', { json: { name, email, password } }, [201]);
  }

  /** Signs in. With MFA on, no session yet: `{ mfaRequired: true, mfaToken }`, then `verifyMfa`. */
  async login({ email, password }) {
    return this.#signedIn(await this.#call('POST', '/api/login', { json: { email, password } }));
  }

  /** Mails a sign-in code to `email`, for `signInWithCode`; the same answer for every address. */
  requestSignInCode({ email }) {
    return this.#call('POST', '/api/login/code', { json: { email } }, [202]);
  }

  /** Signs in with the mailed code (the six digits, or the link's), as `login` does with a
   * password; it verifies the address. */
  async signInWithCode({ email, code }) {
    return this.#signedIn(await this.#call('POST', '/api/login/code/verify', { json: { email, code } }));
  }

  /** Signs in with a passkey, no email typed: the browser offers the site's passkeys. With
   * `mediation: 'conditional'` it waits for the user to pick one from an input's autofill
   * (`autocomplete="username webauthn"`); pass `signal` to stop waiting. A passkey that
   * verified its user is two factors; one that only checked presence may leave MFA's step. */
  async signInWithPasskey({ mediation, signal } = {}) {
    const opened = await this.#call('POST', '/api/passkeys/authentication/options');
    const credential = await this.#webauthn().get({ publicKey: requestOptions(opened.options), mediation, signal });
    const json = { challenge_id: opened.challenge_id, credential: credentialJSON(credential) };
    return this.#signedIn(await this.#call('POST', '/api/passkeys/authentication/verify', { json }));
  }

  #webauthn() {
    if (!this.#credentials) throw new AuthError(0, 'Passkeys need WebAuthn (navigator.credentials)', null);
    return this.#credentials;
  }

  /** A login body kept as the session, or with MFA on `{ mfaRequired: true, mfaToken }` (and
   * `passkeyOptions` when the account has passkeys, for `verifyMfa`). */
  #signedIn(body) {
    if (body.mfa_required) {
      const pending = { mfaRequired: true, mfaToken: body.mfa_token, expiresIn: body.expires_in };
      return body.passkey_options ? { ...pending, passkeyOptions: body.passkey_options } : pending;
    }
    this.#keep(body);
    this.#emit('SIGNED_IN', {});
    return { mfaRequired: false };
  }

  /** The second step of a login: a TOTP `code`, a `recoveryCode`, or a passkey (give the
   * `passkeyOptions` the first step returned). */
  async verifyMfa({ mfaToken, code, recoveryCode, passkeyOptions }) {
    let factor = code ? { code } : { recovery_code: recoveryCode };
    if (passkeyOptions) {
      const credential = await this.#webauthn().get({ publicKey: requestOptions(passkeyOptions) });
      factor = { credential: credentialJSON(credential) };
    }
    const json = { mfa_token: mfaToken, ...factor };
    const body = await this.#call('POST', '/api/login/mfa', { json });
    this.#keep(body);
    this.#emit('SIGNED_IN', {});
    return { mfaRequired: false };
  }

  /** Ends this session (`scope: 'all'` every session, `'others'` every other one). */
  async logout({ scope } = {}) {
    const body = await this.#authed('POST', '/api/logout', { query: scope ? { scope } : undefined });
    if (scope !== 'others') this.#end('logout');
    return body;
  }

  /** The signed-in user: `{ name, email, profile_pic_url, email_verified }`. */
  async me() {
    return (await this.#authed('GET', '/')).user;
  }

  /** Uploads a picture (a File, Blob, Buffer or Uint8Array); returns its URL. Without a
   * file name, it is named for its type (the Blob's, else its first bytes'): the service wants
   * the name's extension and the bytes to agree. */
  async uploadProfilePic(picture, filename = picture?.name) {
    const blob = picture instanceof Blob ? picture : new Blob([picture]);
    const form = new FormData();
    form.append('profile_pic', blob, filename || `picture.${await extensionOf(blob)}`);
    return (await this.#authed('POST', '/api/upload_profile_pic', { form })).profile_pic_url;
  }

  /** Renames the user; returns the user as `me()` would. */
  async updateProfile({ name }) {
    return (await this.#authed('PATCH', '/api/user', { json: { name } })).user;
  }

  /** Mails a new code to the user's unverified address (the one before ends). Signed out, give
   * the address: `resendVerification({ email })` answers the same for every address and mails a
   * code only to an unverified account's (for a site that refuses unverified logins). */
  resendVerification({ email } = {}) {
    if (email !== undefined) {
      return this.#call('POST', '/api/email/verify/resend', { json: { email } }, [202]);
    }
    return this.#authed('POST', '/api/email/verify/resend');
  }

  /** Mails a code to `newEmail`; `confirmEmailChange` with it moves the account there. */
  changeEmail({ newEmail, password }) {
    return this.#authed('POST', '/api/email/change', { json: { new_email: newEmail, password } });
  }

  /** Moves the account to the new address; every other session ends, and this one continues
   * with the new tokens it returns. */
  async confirmEmailChange({ code }) {
    const body = await this.#authed('POST', '/api/email/change/confirm', { json: { code } });
    this.#keep(body);
    return body;
  }

  /** Starts TOTP enrolment: `{ secret, otpauth_uri }` for an authenticator app (not on until
   * `confirmTotp`). */
  async enrolTotp({ password }) {
    const { secret, otpauth_uri } = await this.#authed('POST', '/api/mfa/totp', { json: { password } });
    return { secret, otpauth_uri };
  }

  /** Turns MFA on with the app's first code; returns the ten recovery codes (shown once).
   * Every session ends, this one too; the client goes on in the new one the service answers
   * with, whose tokens carry the second factor (`aal2`) that changing the factors asks for. */
  async confirmTotp({ code }) {
    const body = await this.#authed('POST', '/api/mfa/totp/confirm', { json: { code } });
    this.#keep(body);
    return body.recovery_codes;
  }

  /** Ten new recovery codes; the old set stops working. */
  async renewRecoveryCodes({ password }) {
    return (await this.#authed('POST', '/api/mfa/recovery-codes', { json: { password } })).recovery_codes;
  }

  /** Turns MFA off, with the password and a current code, or (the authenticator lost) a
   * recovery code, which it spends: then `enrolTotp` sets up another. */
  disableTotp({ password, code, recoveryCode }) {
    const json = { password, ...(code ? { code } : { recovery_code: recoveryCode }) };
    return this.#authed('DELETE', '/api/mfa/totp', { json });
  }


  /** Changes the password; the service ends every other session and this one continues
   * with the new tokens it returns. */
  async changePassword({ currentPassword, newPassword }) {
    const body = await this.#authed('PUT', '/api/password', {
      json: { current_password: currentPassword, new_password: newPassword },
    });
    this.#keep(body);
    return body;
  }

  async deleteAccount({ password }) {
    const body = await this.#authed('DELETE', '/api/user', { json: { password } });
    this.#end('account deleted');
    return body;
  }

  forgotPassword({ email }) {
    return this.#call('POST', '/api/password/forgot', { json: { email } }, [202]);
  }

  /** Sets a new password with the mailed code, and signs in with the session it starts
   * (or `{ mfaRequired: true, mfaToken }` for an account with MFA). */
  async resetPassword({ email, code, newPassword }) {
    const json = { email, code, new_password: newPassword };
    return this.#signedIn(await this.#call('POST', '/api/password/reset', { json }));
  }

  verifyEmail({ email, code }) {
    return this.#call('POST', '/api/email/verify', { json: { email, code } });
  }

  /** Adds a passkey to the account (the browser asks the user to make one); returns it as
   * `passkeys()` lists it. */
  async registerPasskey({ name } = {}) {
    const opened = await this.#authed('POST', '/api/passkeys/registration/options');
    const credential = await this.#webauthn().create({ publicKey: creationOptions(opened.options) });
    const json = { challenge_id: opened.challenge_id, credential: credentialJSON(credential), name };
    const { status, ...passkey } = await this.#authed('POST', '/api/passkeys/registration/verify', { json });
    return passkey;
  }

  /** The account's passkeys, oldest first: `{ id, name, created_at, last_used_at, backed_up }`. */
  async passkeys() {
    return (await this.#authed('GET', '/api/passkeys')).passkeys;
  }

  async renamePasskey(id, { name }) {
    const { status, ...passkey } = await this.#authed('PATCH', `/api/passkeys/${encodeURIComponent(id)}`, {
      json: { name },
    });
    return passkey;
  }

  /** Removes a passkey (refused when it is the account's last way in); sessions go on. */
  removePasskey(id) {
    return this.#authed('DELETE', `/api/passkeys/${encodeURIComponent(id)}`);
  }

  /** Drops the password of an account with a passkey, from a session that proved two factors. */
  removePassword() {
    return this.#authed('DELETE', '/api/password');
  }

  /** Starts a sign-in with an outside provider (a name of the service's `OIDC_PROVIDERS`):
   * the browser goes to the provider, and comes back to `redirectTo` (one of the service's
   * `OAUTH_REDIRECT_ALLOWLIST`), where `completeSignIn()` finishes it. Returns the URL; in a
   * browser, it also goes there. */
  signInWith(provider, { redirectTo }) {
    const url = new URL(`${this.#baseUrl}/api/oauth/${encodeURIComponent(provider)}/authorize`);
    url.searchParams.set('redirect_to', redirectTo);
    globalThis.location?.assign(url.toString());
    return url.toString();
  }

  /** On the page a provider sent the user back to: reads the one-time code from the
   * fragment (`fragment`, else `location.hash`), removes it from the address bar, and
   * exchanges it: as `login`, or `{ linkRequired: true, linkToken, provider }` when the address
   * is an account's the identity may not join by itself (sign in, then `confirmLink`). */
  async completeSignIn({ fragment } = {}) {
    const params = new URLSearchParams((fragment ?? globalThis.location?.hash ?? '').replace(/^#/, ''));
    if (fragment === undefined && globalThis.history && globalThis.location) {
      globalThis.history.replaceState(null, '', globalThis.location.pathname + globalThis.location.search);
    }
    const error = params.get('error');
    if (error || !params.get('code')) throw new AuthError(0, error ?? 'No sign-in to complete', null);
    const response = await this.#send('POST', '/api/oauth/exchange', { json: { code: params.get('code') } });
    if (response.status === 409) {
      return { linkRequired: true, linkToken: response.body.link_token, provider: response.body.provider };
    }
    if (response.status !== 200) {
      throw new AuthError(response.status, response.body?.message ?? `HTTP ${response.status}`, response.body);
    }
    if (response.body.message === 'Identity linked') return { linked: true };
    return this.#signedIn(response.body);
  }

  /** Adds an outside identity to the signed-in account: the browser goes to the provider
   * and back to `redirectTo`, where `completeSignIn()` answers `{ linked: true }`. */
  async linkIdentity(provider, { redirectTo }) {
    const path = `/api/oauth/${encodeURIComponent(provider)}/authorize`;
    const { url } = await this.#authed('GET', path, { query: { redirect_to: redirectTo, mode: 'link' } });
    globalThis.location?.assign(url);
    return url;
  }

  /** Confirms a link token (from `completeSignIn`) signed in as its account. */
  async confirmLink({ linkToken }) {
    const { status, ...identity } = await this.#authed('POST', '/api/identities/link', { json: { link_token: linkToken } });
    return identity;
  }

  /** The account's outside identities: `{ id, provider, email, created_at, last_used_at }`. */
  async identities() {
    return (await this.#authed('GET', '/api/identities')).identities;
  }

  /** Unlinks one (refused when it is the account's last way in); sessions go on. */
  unlinkIdentity(id) {
    return this.#authed('DELETE', `/api/identities/${encodeURIComponent(id)}`);
  }

  /** The user's sessions, newest first. */
  async sessions() {
    return (await this.#authed('GET', '/api/sessions')).sessions;
  }

  endSession(id) {
    return this.#authed('DELETE', `/api/sessions/${encodeURIComponent(id)}`);
  }

  /** The site's own API calls, with the bearer token added (and refreshed as needed) when they
   * go to the service, the page's own origin or an origin of `allowedOrigins`; to any other,
   * as they are. */
  async fetch(input, init = {}) {
    const request = async (token) => {
      const headers = new Headers(init.headers);
      if (token) headers.set('Authorization', `Bearer ${token}`);
      return this.#fetch(input, { ...init, headers });
    };
    // Another origin gets the request as it is: no token, and its 401 is its own business.
    if (!this.#mayCarryToken(input)) return request(null);
    const token = await this.getAccessToken();
    let response = await request(token);
    if (response.status === 401 && this.#session()) {
      const session = await this.#after401(token);
      if (session) response = await request(session.accessToken);
    }
    return response;
  }

  #mayCarryToken(input) {
    const href = input instanceof Request ? input.url : String(input);
    try {
      return this.#origins.has(new URL(href, globalThis.location?.href ?? this.#baseUrl).origin);
    } catch {
      return false;
    }
  }

}
