export class TokenError extends Error {}

/** The claims auth-service puts in an access token. */
export interface AccessTokenClaims {
  iss: string;
  aud: string;
  sub: string;
  email: string;
  /** Whether a code mailed to `email` came back: trust `email` as the user's only when true. */
  email_verified?: boolean;
  iat: number;
  exp: number;
  jti: string;
  sid: string;
  amr?: string[];
  aal?: string;
}

export function verifyAccessToken(
  token: string,
  options: { jwksUrl: string; issuer: string; audience: string; fetch?: typeof globalThis.fetch },
): Promise<AccessTokenClaims>;
