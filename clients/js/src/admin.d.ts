// @auth-service/client/admin: /api/admin/* with an admin key, for a site's backend.
import type { components } from './openapi.js';

type Schemas = components['schemas'];
/** A user as operators list them. */
export type AdminUser = Schemas['AdminUser'];
/** A user with its sessions, passkeys, identities and second factor. */
export type UserDetail = Schemas['UserDetail'];
export type MessageResponse = Schemas['MessageResponse'];

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
}
