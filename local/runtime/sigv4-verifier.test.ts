import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import { MISSING_TOKEN, type ReceivedRequest, SIGNATURE_MISMATCH, sigV4Verifier } from './sigv4-verifier.ts';

const credentials = { accessKeyId: 'AKIDLOCALTEST', secretAccessKey: 'local-secret' };
const region = 'eu-west-1';
const now = new Date('2026-12-07T19:30:00Z');
const verify = sigV4Verifier({ credentials, region, now: () => now });

interface Signing {
  method?: string;
  path?: string;
  query?: Record<string, string>;
  body?: string;
  secretAccessKey?: string;
  accessKeyId?: string;
  service?: string;
  region?: string;
  signingDate?: Date;
  /** Whether the signer sends x-amz-content-sha256 (the SDK's default). */
  applyChecksum?: boolean;
}

/** A request signed by the AWS SDK's own signer, as the server would receive it. */
async function signed(options: Signing = {}): Promise<ReceivedRequest> {
  const signer = new SignatureV4({
    service: options.service ?? 'execute-api',
    region: options.region ?? region,
    credentials: {
      accessKeyId: options.accessKeyId ?? credentials.accessKeyId,
      secretAccessKey: options.secretAccessKey ?? credentials.secretAccessKey,
    },
    sha256: Sha256,
    applyChecksum: options.applyChecksum ?? true,
  });
  const body = options.body ?? '{"customerId":"cust-1"}';
  const request = await signer.sign(
    {
      method: options.method ?? 'POST',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 3000,
      path: options.path ?? '/orders',
      query: options.query ?? {},
      headers: { host: '127.0.0.1:3000', 'content-type': 'application/json', 'idempotency-key': 'k-1' },
      body,
    },
    { signingDate: options.signingDate ?? now },
  );
  return {
    method: request.method,
    path: request.path,
    query: Object.entries(request.query ?? {}).map(([name, value]) => [name, String(value)] as const),
    // Headers a client or proxy adds unsigned must not matter.
    rawHeaders: [
      ...Object.entries(request.headers).flat(),
      'User-Agent',
      'curl/8',
      'Connection',
      'keep-alive',
    ],
    body: Buffer.from(body),
  };
}

const withBody = (request: ReceivedRequest, body: string): ReceivedRequest => ({
  ...request,
  body: Buffer.from(body),
});

describe('SigV4 verification (API Gateway AWS_IAM, locally)', () => {
  it('accepts a request the SDK signed with the same credentials, region and service', async () => {
    expect(await verify(await signed())).toEqual({ ok: true, accessKeyId: credentials.accessKeyId });
  });

  it('accepts an encoded path segment, a query string and no body hash header', async () => {
    const request = await signed({
      method: 'GET',
      path: '/orders/ord%20x',
      query: { a: 'b c', z: '1' },
      body: '',
      applyChecksum: false,
    });
    expect(await verify(request)).toMatchObject({ ok: true });
  });

  it('answers Missing Authentication Token without a signature', async () => {
    const request = await signed();
    const unsigned = {
      ...request,
      rawHeaders: ['Host', '127.0.0.1:3000', 'Content-Type', 'application/json'],
    };
    expect(await verify(unsigned)).toEqual({
      ok: false,
      errorType: 'MissingAuthenticationTokenException',
      message: MISSING_TOKEN,
    });
  });

  it('refuses a signature made with another secret key, naming the canonical request', async () => {
    const verdict = await verify(await signed({ secretAccessKey: 'not-the-secret' }));
    expect(verdict).toMatchObject({ ok: false, errorType: 'InvalidSignatureException' });
    expect(verdict.ok ? '' : verdict.message).toContain(SIGNATURE_MISMATCH);
    expect(verdict.ok ? '' : verdict.message).toContain(
      'The Canonical String for this request should have been',
    );
  });

  it('refuses an unknown access key as an invalid security token', async () => {
    expect(await verify(await signed({ accessKeyId: 'AKIDSOMEONEELSE' }))).toEqual({
      ok: false,
      errorType: 'UnrecognizedClientException',
      message: 'The security token included in the request is invalid.',
    });
  });

  it('refuses a tampered body, with or without the body hash header', async () => {
    for (const applyChecksum of [true, false]) {
      const request = withBody(await signed({ applyChecksum }), '{"customerId":"cust-2"}');
      const verdict = await verify(request);
      expect(verdict).toMatchObject({ ok: false, errorType: 'InvalidSignatureException' });
      expect(verdict.ok ? '' : verdict.message).toContain(SIGNATURE_MISMATCH);
    }
  });

  it('refuses a tampered header that was signed, and ignores one that was not', async () => {
    const request = await signed();
    const tampered = request.rawHeaders.map((value) => (value === 'k-1' ? 'k-2' : value));
    expect(await verify({ ...request, rawHeaders: tampered })).toMatchObject({ ok: false });
    const extra = [...request.rawHeaders, 'X-Forwarded-For', '10.0.0.1'];
    expect(await verify({ ...request, rawHeaders: extra })).toMatchObject({ ok: true });
  });

  it('refuses a signature more than five minutes old or ahead, as AWS words it', async () => {
    const stale = await verify(await signed({ signingDate: new Date(now.getTime() - 5 * 60_000 - 1_000) }));
    expect(stale).toEqual({
      ok: false,
      errorType: 'InvalidSignatureException',
      message:
        'Signature expired: 20261207T192459Z is now earlier than 20261207T192500Z (20261207T193000Z - 5 min.)',
    });
    const ahead = await verify(await signed({ signingDate: new Date(now.getTime() + 6 * 60_000) }));
    expect(ahead).toMatchObject({ ok: false, errorType: 'InvalidSignatureException' });
    expect(ahead.ok ? '' : ahead.message).toMatch(
      /^Signature not yet current: 20261207T193600Z is still later than/,
    );
    // Within the window: fine.
    expect(await verify(await signed({ signingDate: new Date(now.getTime() - 4 * 60_000) }))).toMatchObject({
      ok: true,
    });
  });

  it('refuses a signature scoped to another service or region', async () => {
    expect(await verify(await signed({ service: 's3' }))).toEqual({
      ok: false,
      errorType: 'InvalidSignatureException',
      message: "Credential should be scoped to correct service: 'execute-api'. ",
    });
    expect(await verify(await signed({ region: 'us-east-1' }))).toEqual({
      ok: false,
      errorType: 'InvalidSignatureException',
      message: "Credential should be scoped to a valid region, not 'us-east-1'. ",
    });
  });

  it('refuses an Authorization header that is not SigV4, saying what it lacks', async () => {
    const request = await signed();
    const withAuthorization = (value: string): ReceivedRequest => ({
      ...request,
      rawHeaders: request.rawHeaders.map((v, i) =>
        request.rawHeaders[i - 1]?.toLowerCase() === 'authorization' ? value : v,
      ),
    });
    const bearer = await verify(withAuthorization('Bearer abc'));
    expect(bearer).toMatchObject({ ok: false, errorType: 'IncompleteSignatureException' });
    expect(bearer.ok ? '' : bearer.message).toMatch(/^Invalid key=value pair \(missing equal-sign\)/);
    const partial = await verify(withAuthorization('AWS4-HMAC-SHA256 Credential=AKIDLOCALTEST/20261207'));
    expect(partial).toMatchObject({ ok: false, errorType: 'IncompleteSignatureException' });
    expect(partial.ok ? '' : partial.message).toContain(
      "Authorization header requires 'Signature' parameter.",
    );
  });
});
