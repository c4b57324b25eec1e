// Uses every method with the types a page would give them: `tsc --noEmit` fails on a wrong one.
import {
  AuthClient,
  AuthError,
  MemoryStorage,
  type Identity,
  type LoginResponse,
  type Passkey,
  type Session,
  type SignIn,
  type TotpEnrolment,
  type User,
} from '@auth-service/client';
import { verifyAccessToken, type AccessTokenClaims } from '@auth-service/client/verify';
import {
  AdminClient,
  type AdminUser,
  type UserDetail,
  type Webhook,
  type WebhookDelivery,
  type WebhookSecret,
} from '@auth-service/client/admin';

export async function everyMethod(baseUrl: string): Promise<void> {
  const auth = new AuthClient({ baseUrl, storage: new MemoryStorage() });
  const stop: () => void = auth.onAuthStateChange((event, detail) => console.log(event, detail.reason));
  await auth.register({ name: 'Ada', email: 'ada@example.com', password: 'correct horse battery' });
  const signIn: SignIn = await auth.login({ email: 'ada@example.com', password: 'correct horse battery' });
  await auth.requestSignInCode({ email: 'ada@example.com' });
  const byCode: SignIn = await auth.signInWithCode({ email: 'ada@example.com', code: '042917' });
  if (byCode.mfaRequired) await auth.verifyMfa({ mfaToken: byCode.mfaToken, code: '123456' });
  if (signIn.mfaRequired) {
    await auth.verifyMfa({ mfaToken: signIn.mfaToken, code: '123456' });
    await auth.verifyMfa({ mfaToken: signIn.mfaToken, recoveryCode: 'abcd-efgh-ijkl' });
    if (signIn.passkeyOptions) {
      await auth.verifyMfa({ mfaToken: signIn.mfaToken, passkeyOptions: signIn.passkeyOptions });
    }
  }
  const byPasskey: SignIn = await auth.signInWithPasskey();
  const autofill = new AbortController();
  await auth.signInWithPasskey({ mediation: 'conditional', signal: autofill.signal });
  const added: Passkey = await auth.registerPasskey({ name: 'Laptop' });
  const held: Passkey[] = await auth.passkeys();
  const renamedKey: Passkey = await auth.renamePasskey(added.id, { name: 'Work laptop' });
  await auth.removePasskey(held[0].id);
  await auth.removePassword();
  await auth.changePassword({ newPassword: 'a password again' });
  const providerUrl: string = auth.signInWith('google', { redirectTo: 'https://www.example.com/signed-in' });
  const completed = await auth.completeSignIn({ fragment: '#code=abc' });
  if ('linkRequired' in completed) await auth.confirmLink({ linkToken: completed.linkToken });
  await auth.linkIdentity('github', { redirectTo: 'https://www.example.com/signed-in' });
  const linked: Identity[] = await auth.identities();
  await auth.unlinkIdentity(linked[0].id);
  console.log(providerUrl);
  const user: User = await auth.me();
  const verified: boolean = user.email_verified;
  const url: string = await auth.uploadProfilePic(new Blob([new Uint8Array(8)]), 'a.png');
  const renamed: User = await auth.updateProfile({ name: 'Ada L.' });
  await auth.resendVerification();
  await auth.resendVerification({ email: 'ada@example.com' });
  await auth.changeEmail({ newEmail: 'ada@example.org', password: 'correct horse battery' });
  const moved: LoginResponse = await auth.confirmEmailChange({ code: '042917' });
  const enrolment: TotpEnrolment = await auth.enrolTotp({ password: 'correct horse battery' });
  const recoveryCodes: string[] = await auth.confirmTotp({ code: '123456' });
  const renewed: string[] = await auth.renewRecoveryCodes({ password: 'correct horse battery' });
  await auth.disableTotp({ password: 'correct horse battery', code: '123456' });
  await auth.disableTotp({ password: 'correct horse battery', recoveryCode: 'k7qm-2xwe-r5ta' });
  await auth.changePassword({ currentPassword: 'correct horse battery', newPassword: 'another good passphrase' });
  const sessions: Session[] = await auth.sessions();
  await auth.endSession(sessions[0].id);
  await auth.forgotPassword({ email: 'ada@example.com' });
  await auth.resetPassword({ email: 'ada@example.com', code: '042917', newPassword: 'a third passphrase' });
  await auth.verifyEmail({ email: 'ada@example.com', code: '042917' });
  const token: string | null = await auth.getAccessToken();
  const response: Response = await auth.fetch('/api/orders', { method: 'GET' });
  await auth.logout({ scope: 'others' });
  await auth.deleteAccount({ password: 'a third passphrase' });
  await auth.logout();
  const claims: AccessTokenClaims = await verifyAccessToken(token ?? '', {
    jwksUrl: `${baseUrl}/.well-known/jwks.json`,
    issuer: 'auth-service',
    audience: 'auth-service',
  });
  try {
    await auth.me();
  } catch (error) {
    if (error instanceof AuthError) console.log(error.status, error.message);
  }
  console.log(verified, url, response.status, claims.sub, renamed.name, moved.access_token);
  console.log(enrolment.otpauth_uri, recoveryCodes.length, renewed.length);
  console.log(byPasskey.mfaRequired, renamedKey.name, renamedKey.backed_up, renamedKey.last_used_at);
  stop();
}

/** The admin client, as a site's backend uses it with a key. */
export async function everyAdminMethod(baseUrl: string, key: string): Promise<void> {
  const admin = new AdminClient({ baseUrl, key });
  const { users, nextCursor }: { users: AdminUser[]; nextCursor: string | null } = await admin.listUsers({ q: 'ada', limit: 10 });
  const more = nextCursor ? await admin.listUsers({ cursor: nextCursor }) : null;
  const detail: UserDetail = await admin.getUser(users[0].id);
  console.log(more?.users.length, detail.sessions.length, detail.user.status);
  await admin.disableUser(users[0].id, { reason: 'spam', until: '2030-01-01T00:00:00Z' });
  await admin.enableUser(users[0].id);
  await admin.logoutUser(users[0].id);
  await admin.verifyUserEmail(users[0].id);
  await admin.resetUserMfa(users[0].id).catch((error: unknown) => console.log(error));
  const deleted: { status: string; message: string } = await admin.deleteUser(users[0].id);
  console.log(deleted.message);
  const added: WebhookSecret = await admin.addWebhook({ url: 'https://api.example.com/hooks', events: ['user.created'] });
  const hooks: Webhook[] = await admin.webhooks();
  const rotated: WebhookSecret = await admin.rotateWebhookSecret(added.webhook.id);
  const deliveries: WebhookDelivery[] = await admin.webhookDeliveries(added.webhook.id);
  if (deliveries[0]) await admin.replayWebhookEvent(deliveries[0].event_id);
  console.log(hooks.length, rotated.secret, (await admin.removeWebhook(added.webhook.id)).message);
}
