/** What order-api's routes are given: its ports (injected, so tests use memory ones) and its telemetry. */
import type { BasePersistenceLayer } from '@aws-lambda-powertools/idempotency/persistence';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { EncodedRecord } from '../../events/codec.ts';
import type { OrdersPort } from '../shared/orders/repository.ts';
import type { CatalogPort } from './catalog.ts';
import type { idempotentRoutes } from './idempotency.ts';
import type { NotificationsReadPort } from './notifications.ts';

export interface OrderApiDeps {
  orders: OrdersPort;
  catalog: CatalogPort;
  notifications: NotificationsReadPort;
  produce(records: readonly EncodedRecord[]): Promise<void>;
  /** The Idempotency-Keys of every route: one store, one key space per caller (see `requestFingerprint`). */
  persistenceStore: BasePersistenceLayer;
  now?: () => Date;
  newId?: () => string;
  /** The largest OrderReceived accepted; tests lower it. */
  maxEventBytes?: number;
}

/** A route's environment: the ports, telemetry, the clock and ids, and the one idempotency helper. */
export interface RouteEnv {
  deps: OrderApiDeps;
  logger: Logger;
  metrics: Metrics;
  now: () => Date;
  newId: () => string;
  once: ReturnType<typeof idempotentRoutes>;
}
