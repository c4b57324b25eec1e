// @auth-service/client/admin: the site's backend calls /api/admin/* with an admin key
// (`auth-service admin keys create`). Server-side only: the key is a secret no page may hold.
import { AuthError } from './index.js';

export class AdminClient {
  #baseUrl;
  #key;
  #fetch;

  /** `key` is an `ask_…` admin key; its scopes decide which calls it may make. */
  constructor({ baseUrl, key, fetch: fetchImpl = globalThis.fetch }) {
    if (!key?.startsWith('ask_')) throw new TypeError('AdminClient needs an admin key (ask_…)');
    this.#baseUrl = baseUrl.replace(/\/$/, '');
    this.#key = key;
    this.#fetch = fetchImpl;
  }

  async #call(method, path, { json, query } = {}, ok = 200) {
    const headers = { Authorization: `Bearer ${this.#key}` };
    if (json !== undefined) headers['Content-Type'] = 'application/json';
    const search = query ? `?${new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined))}` : '';
    const response = await this.#fetch(`${this.#baseUrl}/api/admin${path}${search}`, {
      method,
      headers,
      body: json === undefined ? undefined : JSON.stringify(json),
    });
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (response.status === ok) return body;
    throw new AuthError(response.status, body?.message ?? `HTTP ${response.status}`, body);
  }

  /** Users by id, those whose address or name starts with `q`: `{ users, nextCursor }`. */
  async listUsers({ q, limit, cursor } = {}) {
    const page = await this.#call('GET', '/users', { query: { q, limit: limit?.toString(), cursor } });
    return { users: page.users, nextCursor: page.next_cursor };
  }

  /** One user with its sessions, passkeys, identities and second factor. */
  getUser(id) {
    return this.#call('GET', `/users/${encodeURIComponent(id)}`);
  }

  /** Every sign-in and refresh answers 403 until enabled (or `until`, an RFC 3339 time). */
  disableUser(id, { reason, until } = {}) {
    return this.#call('POST', `/users/${encodeURIComponent(id)}/disable`, { json: { reason, until } });
  }

  enableUser(id) {
    return this.#call('POST', `/users/${encodeURIComponent(id)}/enable`);
  }

  /** Ends every session of the user. */
  logoutUser(id) {
    return this.#call('POST', `/users/${encodeURIComponent(id)}/logout`);
  }

  verifyUserEmail(id) {
    return this.#call('POST', `/users/${encodeURIComponent(id)}/verify-email`);
  }

  /** Turns the TOTP second factor off for a user who lost it. */
  resetUserMfa(id) {
    return this.#call('POST', `/users/${encodeURIComponent(id)}/reset-mfa`);
  }

  deleteUser(id) {
    return this.#call('DELETE', `/users/${encodeURIComponent(id)}`);
  }

  /** Adds a webhook endpoint for `events` (types, or ['*']): `{ webhook, secret }`, the secret once. */
  addWebhook({ url, events }) {
    return this.#call('POST', '/webhooks', { json: { url, events } }, 201);
  }

  async webhooks() {
    return (await this.#call('GET', '/webhooks')).webhooks;
  }

  /** A new secret, once; the old one signs too for 24 hours. */
  rotateWebhookSecret(id) {
    return this.#call('POST', `/webhooks/${encodeURIComponent(id)}/rotate-secret`);
  }

  removeWebhook(id) {
    return this.#call('DELETE', `/webhooks/${encodeURIComponent(id)}`);
  }

  /** The endpoint's latest deliveries, each with the status of every try. */
  async webhookDeliveries(id) {
    return (await this.#call('GET', `/webhooks/${encodeURIComponent(id)}/deliveries`)).deliveries;
  }

  /** Sends an event again, with the same webhook-id. */
  replayWebhookEvent(eventId) {
    return this.#call('POST', `/webhooks/events/${encodeURIComponent(eventId)}/replay`);
  }
}
