export * from './manifest.ts';
export * from './runtime-env.ts';
export * from './topics.ts';
export * from './types.ts';
export * from './validate.ts';
