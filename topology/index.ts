export * from './manifest.ts';
export * from './types.ts';
export * from './validate.ts';
