// The client's types; the service's bodies come from src/openapi.d.ts (generated).
import type { components } from './openapi.js';

type Schemas = components['schemas'];
export type User = Schemas['UserProfile'];
export type Session = Schemas['SessionView'];
export type MessageResponse = Schemas['MessageResponse'];
export type LoginResponse = Schemas['LoginResponse'];
/** An outside identity linked to the account. */
export type Identity = Schemas['IdentityView'];
/** A passkey as its owner sees it. */
export type Passkey = Schemas['PasskeyView'];
/** WebAuthn's PublicKeyCredentialRequestOptions as JSON, as the service sends them. */
export type PasskeyOptionsJSON = Record<string, unknown>;
/** A TOTP secret waiting for its first code: for typing in, or as a QR code's text. */
export type TotpEnrolment = Pick<Schemas['TotpSecretResponse'], 'secret' | 'otpauth_uri'>;

/** Where the client keeps its tokens: `localStorage`, `MemoryStorage`, or your own. */
export interface TokenStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export class MemoryStorage implements TokenStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export function localStorageStorage(): TokenStorage;

export class AuthError extends Error {
  readonly status: number;
  readonly body: Schemas['ErrorBody'] | null;
}

export type SignIn =
  | { mfaRequired: false }
  | { mfaRequired: true; mfaToken: string; expiresIn: number; passkeyOptions?: PasskeyOptionsJSON };
export type AuthEvent = 'SIGNED_IN' | 'TOKEN_REFRESHED' | 'SIGNED_OUT';

export interface AuthClientOptions {
  baseUrl: string;
  storage?: TokenStorage;
  fetch?: typeof globalThis.fetch;
  /** Origins besides the service's and the page's own that `fetch` sends the access token to
   * (the site's API on another host). */
  allowedOrigins?: string[];
  /** What passkeys are made and used with: the browser's `navigator.credentials` (default). */
  credentials?: Pick<CredentialsContainer, 'create' | 'get'>;
}

export class AuthClient {
  constructor(options: AuthClientOptions);
  onAuthStateChange(listener: (event: AuthEvent, detail: { reason?: string }) => void): () => void;
  getAccessToken(): Promise<string | null>;
  register(input: { name: string; email: string; password: string }): Promise<MessageResponse>;
  login(input: { email: string; password: string }): Promise<SignIn>;
  requestSignInCode(input: { email: string }): Promise<MessageResponse>;
  signInWithCode(input: { email: string; code: string }): Promise<SignIn>;
  signInWithPasskey(input?: { mediation?: CredentialMediationRequirement; signal?: AbortSignal }): Promise<SignIn>;
  verifyMfa(
    input:
      | { mfaToken: string; code: string }
      | { mfaToken: string; recoveryCode: string }
      | { mfaToken: string; passkeyOptions: PasskeyOptionsJSON },
  ): Promise<SignIn>;
  logout(options?: { scope?: 'all' | 'others' }): Promise<MessageResponse>;
  me(): Promise<User>;
  uploadProfilePic(picture: Blob | Uint8Array | ArrayBuffer, filename?: string): Promise<string>;
  updateProfile(input: { name: string }): Promise<User>;
  resendVerification(input?: { email?: string }): Promise<MessageResponse>;
  /** `password` may be left out by an account without one (passkeys only, an aal2 session). */
  changeEmail(input: { newEmail: string; password?: string }): Promise<MessageResponse>;
  confirmEmailChange(input: { code: string }): Promise<LoginResponse>;
  enrolTotp(input: { password: string }): Promise<TotpEnrolment>;
  confirmTotp(input: { code: string }): Promise<string[]>;
  renewRecoveryCodes(input: { password: string }): Promise<string[]>;
  disableTotp(
    input: { password: string; code: string } | { password: string; recoveryCode: string },
  ): Promise<MessageResponse>;
  /** Without `currentPassword`: an account without a password sets one (an aal2 session). */
  changePassword(input: { currentPassword?: string; newPassword: string }): Promise<LoginResponse>;
  removePassword(): Promise<MessageResponse>;
  deleteAccount(input: { password?: string }): Promise<MessageResponse>;
  signInWith(provider: string, input: { redirectTo: string }): string;
  completeSignIn(input?: {
    fragment?: string;
  }): Promise<SignIn | { linkRequired: true; linkToken: string; provider: string } | { linked: true }>;
  linkIdentity(provider: string, input: { redirectTo: string }): Promise<string>;
  confirmLink(input: { linkToken: string }): Promise<Identity>;
  identities(): Promise<Identity[]>;
  unlinkIdentity(id: string): Promise<MessageResponse>;
  registerPasskey(input?: { name?: string }): Promise<Passkey>;
  passkeys(): Promise<Passkey[]>;
  renamePasskey(id: string, input: { name: string }): Promise<Passkey>;
  removePasskey(id: string): Promise<MessageResponse>;
  forgotPassword(input: { email: string }): Promise<MessageResponse>;
  resetPassword(input: { email: string; code: string; newPassword: string }): Promise<SignIn>;
  verifyEmail(input: { email: string; code: string }): Promise<MessageResponse>;
  sessions(): Promise<Session[]>;
  endSession(id: string): Promise<MessageResponse>;
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
}
