export * from './manifest.ts';
export * from './runtime-env.ts';
export * from './types.ts';
export * from './validate.ts';
export * from './topics.ts';
