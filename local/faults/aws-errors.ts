/**
 * The error answers the fault layer gives, byte for byte as DynamoDB (AWS JSON 1.0) and SNS (AWS Query)
 * send them; local/README.md, "Injected AWS errors", shows them with the AWS pages they follow. Pure: no I/O.
 * Member names are the service model's, as @aws-sdk/client-dynamodb 3.1169 reads them: `Message` +
 * `CancellationReasons` for TransactionCanceledException (the wire body AWS engineers quote in
 * https://github.com/aws/aws-sdk-net/issues/1292), `ThrottlingReasons` for ProvisionedThroughputExceededException
 * but `throttlingReasons` for ThrottlingException. SNS's throttling is the common error `Throttling`
 * (https://docs.aws.amazon.com/sns/latest/api/CommonErrors.html) with the message SNS sends, "Rate exceeded"
 * (quoted from real answers in https://github.com/amzn/smoke-aws/pull/149); `InternalError`'s message is
 * the description of https://docs.aws.amazon.com/sns/latest/api/API_Publish.html#API_Publish_Errors.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { FaultRule } from './profile.ts';
import type { ParsedRequest } from './request.ts';

export interface FaultResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** The hot-key message AWS uses for on-demand throttling (the `ThrottlingError` reason's first message). */
const HOT_KEY_MESSAGE =
  'Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. If exceptions persist, check if you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html.';

const DYNAMODB_ERRORS = {
  TransactionConflictException: { status: 400, message: 'Transaction is ongoing for the item.' },
  TransactionCanceledException: { status: 400, message: undefined },
  ThrottlingException: { status: 400, message: 'Rate of requests exceeds the allowed throughput.' },
  ProvisionedThroughputExceededException: { status: 400, message: HOT_KEY_MESSAGE },
  InternalServerError: { status: 500, message: 'Internal server error' },
} as const;

/** The codes of a cancellation reason the layer sets on the targeted items (the others get `None`). */
export const CANCELLATION_CODES = [
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
] as const;
export type CancellationCode = (typeof CANCELLATION_CODES)[number];
const CANCELLATION_MESSAGES: Record<CancellationCode, string> = {
  TransactionConflict: 'Transaction is ongoing for the item.',
  ThrottlingError: HOT_KEY_MESSAGE,
  ProvisionedThroughputExceeded:
    'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
};

export const THROTTLING_LIMITS = [
  'KeyRangeThroughputExceeded',
  'ProvisionedThroughputExceeded',
  'AccountLimitExceeded',
  'MaxOnDemandThroughputExceeded',
] as const;

/** The account of the ARNs in throttling reasons: moto's. */
const ACCOUNT = '123456789012';
const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);

type ErrorFault = Exclude<FaultRule['fault'], { kind: 'drop' | 'latency' }>;

/** The error AWS answers `request` with for `fault`; `targets` marks the request's items it is about. */
export function errorResponse(fault: ErrorFault, request: ParsedRequest, targets: readonly boolean[]) {
  if (fault.kind === 'Throttling' || fault.kind === 'InternalError') return snsError(fault.kind);
  const { status, message } = DYNAMODB_ERRORS[fault.kind];
  const __type = `com.amazonaws.dynamodb.v20120810#${fault.kind}`;
  let body: Record<string, unknown> = { __type, message };
  if (fault.kind === 'TransactionCanceledException') {
    const codes = targets.map((targeted) => (targeted ? fault.reason : 'None'));
    body = {
      __type,
      CancellationReasons: codes.map((Code) =>
        Code === 'None' ? { Code } : { Code, Message: CANCELLATION_MESSAGES[Code] },
      ),
      Message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`,
    };
  } else if (
    fault.kind === 'ThrottlingException' ||
    fault.kind === 'ProvisionedThroughputExceededException'
  ) {
    const table = request.items.find((_, index) => targets[index])?.table || request.tables[0] || 'unknown';
    const reason = `Table${READS.has(request.operation) ? 'Read' : 'Write'}${fault.limit}`;
    const resource = `arn:aws:dynamodb:${request.region ?? 'us-east-1'}:${ACCOUNT}:table/${table}`;
    body[fault.kind === 'ThrottlingException' ? 'throttlingReasons' : 'ThrottlingReasons'] = [
      { reason, resource },
    ];
  }
  const bytes = Buffer.from(JSON.stringify(body));
  // DynamoDB's request ids are 52 characters of [A-Z0-9]; some SDKs check the body's CRC32.
  const requestId = randomBytes(26).toString('hex').toUpperCase();
  return response(status, 'application/x-amz-json-1.0', requestId, bytes, {
    'x-amz-crc32': String(crc32(bytes)),
  });
}

const SNS_ERRORS = {
  Throttling: { status: 400, type: 'Sender', message: 'Rate exceeded' },
  InternalError: { status: 500, type: 'Receiver', message: 'Indicates an internal service error.' },
} as const;

function snsError(code: keyof typeof SNS_ERRORS): FaultResponse {
  const { status, type, message } = SNS_ERRORS[code];
  const requestId = randomUUID();
  const body =
    '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">\n' +
    `  <Error>\n    <Type>${type}</Type>\n    <Code>${code}</Code>\n    <Message>${message}</Message>\n  </Error>\n` +
    `  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`;
  return response(status, 'text/xml', requestId, Buffer.from(body));
}

function response(status: number, type: string, requestId: string, body: Buffer, extra = {}): FaultResponse {
  const headers = {
    'content-type': type,
    'content-length': String(body.length),
    'x-amzn-requestid': requestId,
  };
  return { status, headers: { ...headers, ...extra }, body };
}
