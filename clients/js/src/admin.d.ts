// @auth-service/client/admin: /api/admin/* with an admin key, for a site's backend.
import type { components } from './openapi.js';

type Schemas = components['schemas'];
/** A user as operators list them. */
export type AdminUser = Schemas['AdminUser'];
/** A user with its sessions, passkeys, identities and second factor. */
export type UserDetail = Schemas['UserDetail'];
export type MessageResponse = Schemas['MessageResponse'];
/** A webhook endpoint (never its secret). */
export type Webhook = Schemas['WebhookView'];
/** A new endpoint or a rotated secret: the only time the secret is seen. */
export type WebhookSecret = Schemas['WebhookSecret'];
/** A delivery of one event to one endpoint, with the status of every try. */
export type WebhookDelivery = Schemas['DeliveryView'];

export class AdminClient {
  constructor(options: { baseUrl: string; key: string; fetch?: typeof fetch });
  listUsers(query?: { q?: string; limit?: number; cursor?: string }): Promise<{ users: AdminUser[]; nextCursor: string | null }>;
  getUser(id: number): Promise<UserDetail>;
  disableUser(id: number, options?: { reason?: string; until?: string }): Promise<UserDetail>;
  enableUser(id: number): Promise<UserDetail>;
  logoutUser(id: number): Promise<UserDetail>;
  verifyUserEmail(id: number): Promise<UserDetail>;
  resetUserMfa(id: number): Promise<UserDetail>;
  deleteUser(id: number): Promise<MessageResponse>;
  addWebhook(input: { url: string; events: string[] }): Promise<WebhookSecret>;
  webhooks(): Promise<Webhook[]>;
  rotateWebhookSecret(id: string): Promise<WebhookSecret>;
  removeWebhook(id: string): Promise<MessageResponse>;
  webhookDeliveries(id: string): Promise<WebhookDelivery[]>;
  replayWebhookEvent(eventId: string): Promise<MessageResponse>;
}
