import { createVerify, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import express, { type Request, type Response, type Router } from 'express';
import type { SandboxBehaviour, SecondWindowLimiter } from './behaviour.ts';
import type { ReceivedStore } from './received-store.ts';

export interface FcmModeDeps {
  readonly behaviour: SandboxBehaviour;
  readonly limiter: SecondWindowLimiter;
  readonly received: ReceivedStore;
  readonly nextRequestSeq: () => number;
}

export const FCM_SANDBOX_PROJECT = 'sandbox-project';
const CLIENT_EMAIL = `commstrat@${FCM_SANDBOX_PROJECT}.iam.gserviceaccount.com`;
const SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const FCM_ERROR_CODES = ['UNREGISTERED', 'INVALID_ARGUMENT', 'QUOTA_EXCEEDED', 'UNAVAILABLE', 'INTERNAL', 'SENDER_ID_MISMATCH', 'THIRD_PARTY_AUTH_ERROR'] as const;
type FcmErrorCode = (typeof FCM_ERROR_CODES)[number];
/** HTTP status and canonical google.rpc status of each FCM error code (FCM ErrorCode reference). */
const FCM_ERRORS: Readonly<Record<FcmErrorCode, [number, string, string]>> = {
  UNREGISTERED: [404, 'NOT_FOUND', 'Requested entity was not found.'],
  INVALID_ARGUMENT: [400, 'INVALID_ARGUMENT', 'The registration token is not a valid FCM registration token'],
  QUOTA_EXCEEDED: [429, 'RESOURCE_EXHAUSTED', 'Quota exceeded for quota metric of service firebasecloudmessaging.googleapis.com'],
  UNAVAILABLE: [503, 'UNAVAILABLE', 'The service is currently unavailable.'],
  INTERNAL: [500, 'INTERNAL', 'Internal error encountered.'],
  SENDER_ID_MISMATCH: [403, 'PERMISSION_DENIED', 'SenderId mismatch'],
  THIRD_PARTY_AUTH_ERROR: [401, 'UNAUTHENTICATED', 'Auth error from APNS or Web Push Service'],
};

/** Test controls at /_sandbox/fcm. */
interface FcmControls {
  /** Access tokens issued so far (token endpoint answers 200). */
  token_requests: number;
  /** expires_in of the tokens issued from now on, seconds. Default 3599. */
  token_expires_in: number;
  /** Device tokens answered UNREGISTERED. */
  unregistered_tokens: string[];
  /** Every send answers this FCM error, until set back to null. */
  force_error: FcmErrorCode | null;
  /** The token endpoint answers 503 while true. */
  token_endpoint_down: boolean;
}

/** The google.rpc.Status error body, with the FCM error code in details like FCM's. */
function fcmError(res: Response, code: FcmErrorCode): void {
  const [status, canonical, message] = FCM_ERRORS[code];
  res.status(status).json({
    error: { code: status, message, status: canonical, details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: code }] },
  });
}

function rpcError(res: Response, status: number, canonical: string, message: string): void {
  res.status(status).json({ error: { code: status, message, status: canonical } });
}

/**
 * FCM HTTP v1 `POST /v1/projects/{project}/messages:send` and Google's OAuth 2.0 token
 * endpoint `POST /token` for a service account: the token endpoint checks the
 * JWT-bearer assertion's RS256 signature against the sandbox service account's public
 * key (its key file is served at GET /_sandbox/fcm/service-account; the key pair is
 * made on first use, never stored), then its iss, aud, scope and lifetime. Sends need a
 * live access token (else 401 UNAUTHENTICATED, as FCM answers), one message each;
 * errors are google.rpc Status bodies with the FCM error code in `details`.
 */
export function fcmRoutes(deps: FcmModeDeps): Router {
  const controls: FcmControls = { token_requests: 0, token_expires_in: 3599, unregistered_tokens: [], force_error: null, token_endpoint_down: false };
  /** Access token → when it expires (ms). */
  const accessTokens = new Map<string, number>();
  let keys: { publicKey: KeyObject; privateKeyPem: string; keyId: string } | undefined;
  const serviceKeys = () => {
    if (keys === undefined) {
      const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
      keys = {
        publicKey: pair.publicKey,
        privateKeyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        keyId: randomUUID().replaceAll('-', ''),
      };
    }
    return keys;
  };
  const tokenUri = (req: Request) => `${req.protocol}://${req.get('host') ?? 'localhost'}/token`;

  const router = express.Router();
  router.post('/token', express.urlencoded({ extended: false }), (req: Request, res: Response) => {
    const form = (req.body ?? {}) as Record<string, unknown>;
    if (controls.token_endpoint_down) {
      res.status(503).json({ error: 'temporarily_unavailable', error_description: 'The service is currently unavailable.' });
      return;
    }
    if (form['grant_type'] !== JWT_BEARER) {
      res.status(400).json({ error: 'unsupported_grant_type', error_description: `Invalid grant_type: ${typeof form['grant_type'] === 'string' ? form['grant_type'] : ''}` });
      return;
    }
    const problem = checkAssertion(form['assertion'], serviceKeys().publicKey, tokenUri(req));
    if (problem !== undefined) {
      res.status(400).json({ error: 'invalid_grant', error_description: problem });
      return;
    }
    const accessToken = `ya29.sbx-${randomUUID()}`;
    accessTokens.set(accessToken, Date.now() + controls.token_expires_in * 1000);
    controls.token_requests += 1;
    res.json({ access_token: accessToken, expires_in: controls.token_expires_in, token_type: 'Bearer' });
  });

  router.post(/^\/v1\/projects\/([^/]+)\/messages:send$/, async (req: Request, res: Response) => {
    const bearer = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
    const expiresAt = bearer === undefined ? undefined : accessTokens.get(bearer);
    if (expiresAt === undefined || expiresAt <= Date.now()) {
      rpcError(res, 401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.');
      return;
    }
    const project = (req.params as Record<string, string | undefined>)[0];
    if (project !== FCM_SANDBOX_PROJECT) {
      rpcError(res, 403, 'PERMISSION_DENIED', `Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/${project ?? ''}'`);
      return;
    }
    const message = (req.body as { message?: { token?: unknown; notification?: { title?: unknown; body?: unknown } } } | undefined)?.message;
    if (typeof message?.token !== 'string' || message.token === '') {
      fcmError(res, 'INVALID_ARGUMENT');
      return;
    }
    if (deps.behaviour.latency_ms > 0) await sleep(deps.behaviour.latency_ms);
    if (res.destroyed || req.socket.destroyed) return;
    if (deps.behaviour.error_rate > 0 && Math.random() < deps.behaviour.error_rate) {
      fcmError(res, 'UNAVAILABLE');
      return;
    }
    if (controls.force_error !== null) {
      if (controls.force_error === 'QUOTA_EXCEEDED') res.set('retry-after', '1');
      fcmError(res, controls.force_error);
      return;
    }
    const wait = deps.limiter.take(1, deps.behaviour.rate_per_second);
    if (wait > 0) {
      res.set('retry-after', String(wait));
      fcmError(res, 'QUOTA_EXCEEDED');
      return;
    }
    if (controls.unregistered_tokens.includes(message.token)) {
      fcmError(res, 'UNREGISTERED');
      return;
    }
    const name = `projects/${FCM_SANDBOX_PROJECT}/messages/0:${Date.now()}%${randomUUID().slice(0, 8)}`;
    deps.received.add([
      {
        message_id: name,
        client_ref: undefined,
        to: message.token,
        text: typeof message.notification?.body === 'string' ? message.notification.body : '',
        sender: undefined,
        received_at: Date.now(),
        request_seq: deps.nextRequestSeq(),
      },
    ]);
    res.json({ name });
  });

  router.get('/_sandbox/fcm/service-account', (req, res) => {
    const { privateKeyPem, keyId } = serviceKeys();
    res.json({
      type: 'service_account',
      project_id: FCM_SANDBOX_PROJECT,
      private_key_id: keyId,
      private_key: privateKeyPem,
      client_email: CLIENT_EMAIL,
      token_uri: tokenUri(req),
    });
  });
  router.get('/_sandbox/fcm', (_req, res) => {
    res.json(controls);
  });
  router.put('/_sandbox/fcm', (req, res) => {
    const update = (req.body ?? {}) as Record<string, unknown>;
    const bad = (message: string) => res.status(422).json({ error: { code: 'validation_failed', message } });
    const { token_expires_in: expiresIn, unregistered_tokens: unregistered, force_error: force, token_endpoint_down: down, revoke_tokens: revoke } = update;
    if (expiresIn !== undefined && (typeof expiresIn !== 'number' || !Number.isInteger(expiresIn) || expiresIn < 1)) return bad('/token_expires_in: whole seconds >= 1');
    if (unregistered !== undefined && (!Array.isArray(unregistered) || !unregistered.every((t) => typeof t === 'string'))) return bad('/unregistered_tokens: a list of device tokens');
    if (force !== undefined && force !== null && !FCM_ERROR_CODES.includes(force as FcmErrorCode)) return bad(`/force_error: one of ${FCM_ERROR_CODES.join(', ')} or null`);
    if (down !== undefined && typeof down !== 'boolean') return bad('/token_endpoint_down: true or false');
    if (revoke !== undefined && revoke !== true) return bad('/revoke_tokens: true');
    if (typeof expiresIn === 'number') controls.token_expires_in = expiresIn;
    if (unregistered !== undefined) controls.unregistered_tokens = unregistered;
    if (force !== undefined) controls.force_error = force as FcmErrorCode | null;
    if (typeof down === 'boolean') controls.token_endpoint_down = down;
    // Revoked tokens are refused from now on: the client's next send gets 401.
    if (revoke === true) accessTokens.clear();
    return res.json(controls);
  });
  return router;
}

/** Why an assertion is refused, in the words Google's token endpoint uses; undefined when it is good. */
function checkAssertion(assertion: unknown, publicKey: KeyObject, audience: string): string | undefined {
  if (typeof assertion !== 'string') return 'Missing required parameter: assertion';
  const parts = assertion.split('.');
  if (parts.length !== 3) return 'Invalid JWT: malformed';
  const [header = '', claims = '', signature = ''] = parts;
  let decodedHeader: { alg?: unknown };
  let decoded: { iss?: unknown; scope?: unknown; aud?: unknown; iat?: unknown; exp?: unknown };
  try {
    decodedHeader = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as typeof decodedHeader;
    decoded = JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as typeof decoded;
  } catch {
    return 'Invalid JWT: malformed';
  }
  if (decodedHeader.alg !== 'RS256') return 'Invalid JWT: alg must be RS256';
  const valid = createVerify('RSA-SHA256').update(`${header}.${claims}`).verify(publicKey, Buffer.from(signature, 'base64url'));
  if (!valid) return 'Invalid JWT Signature.';
  if (decoded.iss !== CLIENT_EMAIL) return 'Invalid grant: account not found';
  if (decoded.aud !== audience) return `Invalid JWT: aud must be ${audience}`;
  const now = Math.floor(Date.now() / 1000);
  const { iat, exp } = decoded;
  if (typeof iat !== 'number' || typeof exp !== 'number' || exp - iat > 3600 || iat > now + 60 || exp <= now) {
    return 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.';
  }
  if (typeof decoded.scope !== 'string' || !decoded.scope.split(' ').includes(SCOPE)) return 'Invalid OAuth scope or ID token audience provided.';
  return undefined;
}
