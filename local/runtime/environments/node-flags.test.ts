import { describe, expect, it } from 'vitest';
import { lambdaNodeFlags } from './environment.ts';

describe('an environment’s Node.js flags', () => {
  it.each([
    [512, '25', '461'],
    [1024, '51', '922'],
    [128, '6', '116'],
  ])(
    'at %i MB: a semi-space of %s MB and an old space of %s MB, as Lambda’s bootstrap computes them',
    (memoryMb, semi, old) => {
      expect(lambdaNodeFlags(memoryMb)).toEqual([
        '--expose-gc',
        '--max-http-header-size=81920',
        `--max-semi-space-size=${semi}`,
        `--max-old-space-size=${old}`,
      ]);
    },
  );
});
