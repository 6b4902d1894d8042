export * from './codec.ts';
export * from './envelope.ts';
export * from './schemas/events.ts';
export * from './schemas/order.ts';
export * from './schemas/order-request.ts';
export * from './topics.ts';
