/**
 * The error answers the fault layer gives, byte for byte as DynamoDB (AWS JSON 1.0) and SNS (AWS Query)
 * send them. Pure: no I/O.
 *
 * DynamoDB — https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
 *   `HTTP/1.1 400`, `Content-Type: application/x-amz-json-1.0`, `x-amzn-RequestId`, a body
 *   `{"__type":"com.amazonaws.dynamodb.v20120810#<Name>","message":"..."}`; 5xx for `InternalServerError`.
 *   Member names are the service model's (the JSON protocol has no renaming): `message` for most,
 *   `Message` + `CancellationReasons` for TransactionCanceledException, `ThrottlingReasons` for
 *   ProvisionedThroughputExceededException but `throttlingReasons` for ThrottlingException (both as
 *   @aws-sdk/client-dynamodb 3.1169's schema reads them).
 * TransactionCanceledException as the service sends it (reasons in the order of `TransactItems`, `{"Code":"None"}`
 *   for an item that did not cause it, the codes repeated in brackets in `Message`): the API reference,
 *   https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html (codes and
 *   messages: `TransactionConflict` / "Transaction is ongoing for the item.", `ThrottlingError`,
 *   `ProvisionedThroughputExceeded`), https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CancellationReason.html,
 *   and the wire body AWS engineers quote in https://github.com/aws/aws-sdk-net/issues/1292.
 * Throttling reasons: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ThrottlingReason.html
 *   (`<Table|Index><Read|Write><KeyRangeThroughputExceeded|ProvisionedThroughputExceeded|AccountLimitExceeded|
 *   MaxOnDemandThroughputExceeded>` and the table's ARN).
 * SNS (Query protocol, what @aws-sdk/client-sns 3.1169 speaks: `AwsQueryProtocol`) — an XML
 *   `<ErrorResponse><Error><Type>Sender|Receiver</Type><Code>..</Code><Message>..</Message></Error><RequestId>`;
 *   throttling is the common error `ThrottlingException`, code `Throttling` in the Query protocol, 400
 *   (https://docs.aws.amazon.com/sns/latest/api/CommonErrors.html), with the message SNS sends, "Rate exceeded"
 *   (quoted from real answers in https://github.com/amzn/smoke-aws/pull/149); a server fault is `InternalError`
 *   (500, `Receiver`; the model's `InternalErrorException`, whose description is its message here:
 *   https://docs.aws.amazon.com/sns/latest/api/API_Publish.html#API_Publish_Errors).
 */
import { randomUUID } from 'node:crypto';
import { crc32 } from 'node:zlib';

export interface FaultResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export const DYNAMODB_ERROR_PREFIX = 'com.amazonaws.dynamodb.v20120810#';

/** The DynamoDB errors the layer injects (each with its status). */
export const DYNAMODB_ERRORS = {
  TransactionConflictException: 400,
  TransactionCanceledException: 400,
  ThrottlingException: 400,
  ProvisionedThroughputExceededException: 400,
  InternalServerError: 500,
} as const;
export type DynamoDbErrorName = keyof typeof DYNAMODB_ERRORS;

/** The codes of a cancellation reason the layer sets on the targeted items (the others get `None`). */
export const CANCELLATION_CODES = [
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
] as const;
export type CancellationCode = (typeof CANCELLATION_CODES)[number];

/** The hot-key message AWS uses for on-demand throttling (the `ThrottlingError` reason's first message). */
const HOT_KEY_MESSAGE =
  'Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. If exceptions persist, check if you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html.';

export const DYNAMODB_MESSAGES = {
  TransactionConflictException: 'Transaction is ongoing for the item.',
  ThrottlingException: 'Rate of requests exceeds the allowed throughput.',
  ProvisionedThroughputExceededException: HOT_KEY_MESSAGE,
  InternalServerError: 'Internal server error',
} as const;

export const CANCELLATION_MESSAGES: Record<CancellationCode, string> = {
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
export type ThrottlingLimit = (typeof THROTTLING_LIMITS)[number];

export interface ThrottlingReason {
  reason: string;
  resource: string;
}

/** `TableWriteKeyRangeThroughputExceeded` and the table's ARN. */
export function throttlingReason(
  table: string,
  access: 'Read' | 'Write',
  limit: ThrottlingLimit,
  region: string,
  account: string,
): ThrottlingReason {
  return {
    reason: `Table${access}${limit}`,
    resource: `arn:aws:dynamodb:${region}:${account}:table/${table}`,
  };
}

/** Per item of `TransactItems`: a code for a targeted item, `undefined` for one that did not cause it. */
export type CancellationReasonCodes = readonly (CancellationCode | undefined)[];

function dynamoDbResponse(status: number, body: Record<string, unknown>): FaultResponse {
  const bytes = Buffer.from(JSON.stringify(body));
  return {
    status,
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'content-length': String(bytes.length),
      'x-amzn-requestid': dynamoDbRequestId(),
      // DynamoDB's CRC32 of the body, which some SDKs check.
      'x-amz-crc32': String(crc32(bytes)),
    },
    body: bytes,
  };
}

/** DynamoDB's request ids: 52 characters of [A-Z0-9]. */
function dynamoDbRequestId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  let id = '';
  for (let i = 0; i < 52; i++) id += alphabet[Math.floor(Math.random() * alphabet.length)];
  return id;
}

export type DynamoDbError =
  | { name: 'TransactionConflictException' }
  | { name: 'TransactionCanceledException'; reasons: CancellationReasonCodes }
  | {
      name: 'ThrottlingException' | 'ProvisionedThroughputExceededException';
      throttlingReasons: ThrottlingReason[];
    }
  | { name: 'InternalServerError' };

export function dynamoDbError(error: DynamoDbError): FaultResponse {
  const __type = `${DYNAMODB_ERROR_PREFIX}${error.name}`;
  const status = DYNAMODB_ERRORS[error.name];
  switch (error.name) {
    case 'TransactionCanceledException': {
      const codes = error.reasons.map((code) => code ?? 'None');
      return dynamoDbResponse(status, {
        __type,
        CancellationReasons: error.reasons.map((code) =>
          code ? { Code: code, Message: CANCELLATION_MESSAGES[code] } : { Code: 'None' },
        ),
        Message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`,
      });
    }
    case 'ThrottlingException':
      return dynamoDbResponse(status, {
        __type,
        message: DYNAMODB_MESSAGES.ThrottlingException,
        throttlingReasons: error.throttlingReasons,
      });
    case 'ProvisionedThroughputExceededException':
      return dynamoDbResponse(status, {
        __type,
        message: DYNAMODB_MESSAGES.ProvisionedThroughputExceededException,
        ThrottlingReasons: error.throttlingReasons,
      });
    default:
      return dynamoDbResponse(status, { __type, message: DYNAMODB_MESSAGES[error.name] });
  }
}

export const SNS_ERRORS = {
  Throttling: { status: 400, type: 'Sender', message: 'Rate exceeded' },
  InternalError: { status: 500, type: 'Receiver', message: 'Indicates an internal service error.' },
} as const;
export type SnsErrorCode = keyof typeof SNS_ERRORS;

export function snsError(code: SnsErrorCode): FaultResponse {
  const { status, type, message } = SNS_ERRORS[code];
  const requestId = randomUUID();
  const bytes = Buffer.from(
    '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">\n' +
      `  <Error>\n    <Type>${type}</Type>\n    <Code>${code}</Code>\n    <Message>${message}</Message>\n  </Error>\n` +
      `  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`,
  );
  return {
    status,
    headers: {
      'content-type': 'text/xml',
      'content-length': String(bytes.length),
      'x-amzn-requestid': requestId,
    },
    body: bytes,
  };
}
