/**
 * API Gateway's AWS_IAM authorization, locally: checks a request's SigV4 signature (service `execute-api`)
 * against one set of credentials, as `npm start -- --iam` does for the order routes.
 *
 * Verification recomputes the signature of the request as received, with the canonicalisation of the
 * AWS SDK's own signer (@smithy/signature-v4: canonical path, query and headers, string to sign, signing
 * key), and compares the two in constant time. The answers are API Gateway's 403s: no signature is
 * `Missing Authentication Token`; a wrong key, body, date or scope is `InvalidSignatureException`
 * (https://repost.aws/knowledge-center/api-gateway-iam-sigv4-mismatch, "How do I troubleshoot signature
 * mismatch errors..."); an unknown access key is `The security token included in the request is
 * invalid`. What this does not do: IAM policy evaluation (`execute-api:Invoke`: every holder of the
 * credentials may call every signed route) and query-string (presigned) signatures.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { ALGORITHM_IDENTIFIER, createScope, getCanonicalHeaders, SignatureV4 } from '@smithy/signature-v4';
import { localRegion } from './lambda-context.ts';

const SERVICE = 'execute-api';
/** How far a request's signing time may be from the clock, either way (SigV4's limit). */
const MAX_SKEW_MS = 5 * 60_000;

export interface SigV4Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SigV4VerifierOptions {
  credentials: SigV4Credentials;
  region: string;
  /** The clock requests are checked against (tests move it). */
  now?: () => Date;
}

/** A request as the server received it. */
export interface ReceivedRequest {
  method: string;
  /** As sent, percent-encoded, without the query. */
  path: string;
  /** Decoded names and values, in order. */
  query: readonly (readonly [string, string])[];
  /** Node's `rawHeaders`: name, value, name, value... */
  rawHeaders: readonly string[];
  body: Buffer;
}

type SigV4Rejection =
  | 'MissingAuthenticationTokenException'
  | 'IncompleteSignatureException'
  | 'InvalidSignatureException'
  | 'UnrecognizedClientException';

export type SigV4Verdict =
  | { ok: true; accessKeyId: string }
  | { ok: false; errorType: SigV4Rejection; message: string };

const reject = (errorType: SigV4Rejection, message: string): SigV4Verdict => ({
  ok: false,
  errorType,
  message,
});

export const MISSING_TOKEN = 'Missing Authentication Token';
export const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
const INVALID_TOKEN = 'The security token included in the request is invalid.';

/** Header names lowercased, repeated headers joined with commas (SigV4's canonical form of a repeat). */
function headerMap(rawHeaders: readonly string[]): Map<string, string> {
  const headers = new Map<string, string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    const value = rawHeaders[i + 1] as string;
    headers.set(name, headers.has(name) ? `${headers.get(name)},${value}` : value);
  }
  return headers;
}

interface Authorization {
  credential: string;
  signedHeaders: string[];
  signature: string;
}

/** Parses `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`, or says what is wrong. */
function parseAuthorization(header: string, hasDate: boolean): Authorization | SigV4Verdict {
  const [algorithm = '', ...rest] = header.split(' ');
  const params = new Map<string, string>();
  for (const part of rest.join(' ').split(',')) {
    const text = part.trim();
    if (text === '') continue;
    const equals = text.indexOf('=');
    if (equals < 0) {
      const hashed = createHash('sha256').update(header).digest('base64');
      return reject(
        'IncompleteSignatureException',
        `Invalid key=value pair (missing equal-sign) in Authorization header (hashed with SHA-256 and encoded with Base64): '${hashed}'.`,
      );
    }
    params.set(text.slice(0, equals), text.slice(equals + 1));
  }
  const problems = [
    ...(algorithm === ALGORITHM_IDENTIFIER ? [] : [`Unsupported algorithm '${algorithm}'.`]),
    ...['Credential', 'Signature', 'SignedHeaders']
      .filter((name) => !params.get(name))
      .map((name) => `Authorization header requires '${name}' parameter.`),
    ...(hasDate
      ? []
      : ["Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."]),
  ];
  if (problems.length > 0)
    return reject('IncompleteSignatureException', [...problems, `Authorization=${header}`].join(' '));
  return {
    credential: params.get('Credential') as string,
    signedHeaders: (params.get('SignedHeaders') as string).split(';'),
    signature: params.get('Signature') as string,
  };
}

/** `20261207T193000Z` from X-Amz-Date, or from an HTTP Date header; undefined when neither parses. */
function signingTime(headers: ReadonlyMap<string, string>): string | undefined {
  const amzDate = headers.get('x-amz-date');
  if (amzDate !== undefined) return /^\d{8}T\d{6}Z$/.test(amzDate) ? amzDate : undefined;
  const date = Date.parse(headers.get('date') ?? '');
  return Number.isNaN(date) ? undefined : basicIso(new Date(date));
}

const basicIso = (date: Date): string => `${date.toISOString().slice(0, 19).replace(/[-:]/g, '')}Z`;
const fromBasicIso = (text: string): Date =>
  new Date(text.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));

/**
 * The first rule the credential scope `<key>/<date>/<region>/<service>/aws4_request` or the signing time
 * breaks (SigV4 refuses a time more than five minutes off, either way), in API Gateway's words.
 */
function scopeVerdict(
  credential: string,
  longDate: string,
  { credentials, region: expectedRegion }: SigV4VerifierOptions,
  now: Date,
): SigV4Verdict | undefined {
  const parts = credential.split('/');
  if (parts.length !== 5)
    return reject(
      'IncompleteSignatureException',
      `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${credential}'`,
    );
  const [accessKeyId, date, region, service, terminator] = parts;
  if (accessKeyId !== credentials.accessKeyId) return reject('UnrecognizedClientException', INVALID_TOKEN);
  const signedAt = fromBasicIso(longDate).getTime();
  if (Number.isNaN(signedAt)) return reject('IncompleteSignatureException', `Date ${longDate} is not valid.`);
  const clock = basicIso(now);
  const earliest = new Date(now.getTime() - MAX_SKEW_MS);
  const latest = new Date(now.getTime() + MAX_SKEW_MS);
  const rules: [broken: boolean, message: string][] = [
    [region !== expectedRegion, `Credential should be scoped to a valid region, not '${region}'. `],
    [service !== SERVICE, `Credential should be scoped to correct service: '${SERVICE}'. `],
    [
      terminator !== 'aws4_request',
      `Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator}'. `,
    ],
    [
      date !== longDate.slice(0, 8),
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${date}' != '${longDate.slice(0, 8)}', from '${longDate}'.`,
    ],
    [
      signedAt < earliest.getTime(),
      `Signature expired: ${longDate} is now earlier than ${basicIso(earliest)} (${clock} - 5 min.)`,
    ],
    [
      signedAt > latest.getTime(),
      `Signature not yet current: ${longDate} is still later than ${basicIso(latest)} (${clock} + 5 min.)`,
    ],
  ];
  const broken = rules.find(([isBroken]) => isBroken);
  return broken && reject('InvalidSignatureException', broken[1]);
}

type SignableRequest = Parameters<typeof getCanonicalHeaders>[0];

/** The SDK signer, opened up to recompute a received request's canonical request and signature. */
class SignatureRecomputer extends SignatureV4 {
  constructor(private readonly options: SigV4VerifierOptions) {
    super({ service: SERVICE, region: options.region, credentials: options.credentials, sha256: Sha256 });
  }

  async recompute(request: SignableRequest, signedHeaders: readonly string[], longDate: string) {
    const canonicalHeaders = getCanonicalHeaders(request, new Set(), new Set(signedHeaders));
    const payloadHash = sha256Hex(request.body as Buffer);
    const canonicalRequest = this.createCanonicalRequest(request, canonicalHeaders, payloadHash);
    const scope = createScope(longDate.slice(0, 8), this.options.region, SERVICE);
    const stringToSign = await this.createStringToSign(
      longDate,
      scope,
      canonicalRequest,
      ALGORITHM_IDENTIFIER,
    );
    const signature = await this.sign(stringToSign, { signingDate: fromBasicIso(longDate) });
    return { signature, canonicalRequest, stringToSign };
  }
}

const sha256Hex = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** Equal hex signatures, compared in constant time (a different length is a mismatch, decided at once). */
function sameSignature(expected: string, given: string): boolean {
  const [a, b] = [Buffer.from(expected), Buffer.from(given)];
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Only the headers the client signed: the canonical request is built from those and nothing else. */
function signableRequest(
  request: ReceivedRequest,
  headers: ReadonlyMap<string, string>,
  signed: readonly string[],
): SignableRequest {
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of request.query) {
    const previous = query[name];
    query[name] = previous === undefined ? value : [previous, value].flat();
  }
  const signedHeaders = signed.flatMap((name) => {
    const value = headers.get(name);
    return value === undefined ? [] : [[name, value]];
  });
  return {
    method: request.method,
    protocol: 'http:',
    hostname: headers.get('host') ?? '',
    path: request.path,
    query,
    headers: Object.fromEntries(signedHeaders),
    body: request.body,
  };
}

/** The verifier of one API: its credentials and region. */
export function sigV4Verifier(
  options: SigV4VerifierOptions,
): (request: ReceivedRequest) => Promise<SigV4Verdict> {
  const recomputer = new SignatureRecomputer(options);
  const now = options.now ?? (() => new Date());
  return async (request) => {
    const headers = headerMap(request.rawHeaders);
    const authorization = headers.get('authorization');
    if (authorization === undefined || authorization.trim() === '')
      return reject('MissingAuthenticationTokenException', MISSING_TOKEN);
    const longDate = signingTime(headers);
    const parsed = parseAuthorization(authorization, longDate !== undefined);
    if ('ok' in parsed) return parsed;
    const refused = scopeVerdict(parsed.credential, longDate as string, options, now());
    if (refused) return refused;
    const { credentials } = options;
    if (headers.get('x-amz-security-token') !== credentials.sessionToken)
      return reject('UnrecognizedClientException', INVALID_TOKEN);
    if (!parsed.signedHeaders.includes('host'))
      return reject(
        'InvalidSignatureException',
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
      );
    // A client that sends the body's hash signs it: a body that does not match is a tampered one.
    const declaredHash = headers.get('x-amz-content-sha256');
    const recomputed = await recomputer.recompute(
      signableRequest(request, headers, parsed.signedHeaders),
      parsed.signedHeaders,
      longDate as string,
    );
    if (
      (declaredHash !== undefined && declaredHash !== sha256Hex(request.body)) ||
      !sameSignature(recomputed.signature, parsed.signature)
    )
      return reject(
        'InvalidSignatureException',
        `${SIGNATURE_MISMATCH}\n\nThe Canonical String for this request should have been\n'${recomputed.canonicalRequest}'\n\nThe String-to-Sign should have been\n'${recomputed.stringToSign}'\n`,
      );
    return { ok: true, accessKeyId: credentials.accessKeyId };
  };
}

/**
 * The credentials `npm start -- --iam` checks signatures against, and `npm run test:deployed -- --local`
 * signs with: the shell's `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), else
 * `local` / `local` (what the local DynamoDB and SNS clients use). One function for both sides, so they
 * agree without configuration.
 */
export function localIamCredentials(env: NodeJS.ProcessEnv = process.env): SigV4Credentials {
  const { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN } = env;
  if (!AWS_ACCESS_KEY_ID || !AWS_SECRET_ACCESS_KEY) return { accessKeyId: 'local', secretAccessKey: 'local' };
  return {
    accessKeyId: AWS_ACCESS_KEY_ID,
    secretAccessKey: AWS_SECRET_ACCESS_KEY,
    ...(AWS_SESSION_TOKEN ? { sessionToken: AWS_SESSION_TOKEN } : {}),
  };
}

/** What the API emulator verifies with: these credentials, in the region the runtime gives the functions. */
export function localIamVerifier(env: NodeJS.ProcessEnv = process.env): SigV4VerifierOptions {
  return { credentials: localIamCredentials(env), region: localRegion() };
}
