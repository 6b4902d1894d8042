/** Test fixtures: the dependency failures order-api's tests inject, as the SDK and Node throw them. */

/** An error as the SDK v3 throws it: its name, its HTTP status, its fault. */
export const awsError = (name: string, status = 400, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(name), {
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    ...extra,
  });

/** A connection dropped or refused (`code`), as Node reports it through the SDK. */
export const dropped = (code: string) => Object.assign(new Error('socket hang up'), { code, $metadata: {} });

/** One failure of each transient class, with the reason order-api's 503 gives for it. */
export const transientFailures = [
  ['ThrottlingException', awsError('ThrottlingException'), 'throttled'],
  ['ProvisionedThroughputExceededException', awsError('ProvisionedThroughputExceededException'), 'throttled'],
  ['TransactionConflictException', awsError('TransactionConflictException'), 'conflict'],
  ['InternalServerError (500)', awsError('InternalServerError', 500), 'unavailable'],
  ['a dropped connection', dropped('ECONNRESET'), 'unavailable'],
  ['a request timed out', Object.assign(new Error('timed out'), { name: 'TimeoutError' }), 'unavailable'],
] as const;
