/**
 * order-api's Idempotency-Keys, for every route: one Powertools config, one store, one key space (a
 * caller's key names one request, whatever its route). A repeated request gets the first answer, marked
 * `Idempotent-Replayed: true`; the route learns of the replay from Powertools' `responseHook` (called
 * only for an answer read from the store), as functions/notification/delivery.ts does.
 * https://docs.aws.amazon.com/powertools/typescript/2.25.2/api/types/_aws-lambda-powertools_idempotency.types.ResponseHook.html
 */

import type { JSONValue } from '@aws-lambda-powertools/commons/types';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import type { BasePersistenceLayer } from '@aws-lambda-powertools/idempotency/persistence';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { registerInvocation } from '../shared/idempotency.ts';
import type { RequestFingerprint } from './requests.ts';

/** How long an answer is replayed for the same Idempotency-Key. */
const API_IDEMPOTENCY_SECONDS = 24 * 60 * 60;
/**
 * One key space for every route's Idempotency-Keys, under a prefix of its own: the records kept under
 * the former per-route prefixes hashed the body alone, so they are not compared with fingerprints (their
 * orders still replay by the order's own conditional write, and a cancellation is idempotent by the
 * order's state).
 */
const IDEMPOTENCY_KEY_PREFIX = 'order-pipeline.order-api.request';
/** Set by the response hook on an answer read from the store; never sent. */
const FROM_STORE = 'replayedFromStore';

/** What a route keyed by an Idempotency-Key is called with. */
export interface KeyedRequest {
  /** The caller's scoped key: the record's key. */
  idempotencyKey: string | undefined;
  /** The record's payload hash: the same key with another route, target or body is a 409. */
  fingerprint: RequestFingerprint;
}

export interface Answer {
  response: APIGatewayProxyResult;
  /** The answer was the first request's, read from the store. */
  replayed: boolean;
}

/** A replayed answer says so, as common idempotent APIs do. */
export const markReplayed = (response: APIGatewayProxyResult): APIGatewayProxyResult => ({
  ...response,
  headers: { ...response.headers, 'idempotent-replayed': 'true' },
});

type Route<I extends KeyedRequest, R extends unknown[]> = (
  input: I,
  ...rest: R
) => Promise<APIGatewayProxyResult>;

/** Makes routes run once per Idempotency-Key, with the one config every route shares. */
export function idempotentRoutes(persistenceStore: BasePersistenceLayer) {
  // A Powertools store keeps the configuration of its first use: one config serves every route.
  const config = new IdempotencyConfig({
    eventKeyJmesPath: 'idempotencyKey',
    payloadValidationJmesPath: 'fingerprint',
    expiresAfterSeconds: API_IDEMPOTENCY_SECONDS,
    responseHook: (stored) => ({ ...(stored as Record<string, JSONValue>), [FROM_STORE]: true }),
  });
  return function once<I extends KeyedRequest, R extends unknown[]>(route: Route<I, R>) {
    const idempotent = makeIdempotent(route, {
      persistenceStore,
      config,
      keyPrefix: IDEMPOTENCY_KEY_PREFIX,
    });
    return async (context: Context | undefined, input: I, ...rest: R): Promise<Answer> => {
      // A request interrupted by a crash is in progress only until its invocation's deadline.
      if (context) registerInvocation(config, context);
      const { [FROM_STORE]: replayed, ...response } = (await idempotent(
        input,
        ...rest,
      )) as Answer['response'] & {
        [FROM_STORE]?: true;
      };
      return replayed ? { response: markReplayed(response), replayed: true } : { response, replayed: false };
    };
  };
}
