import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import * as shim from './cls-hooked-context.ts';

/** cls-hooked as the X-Ray SDK requires it (a dependency of the SDK's, not of this project's). */
const sdkRequire = createRequire(createRequire(import.meta.url).resolve('aws-xray-sdk-core'));
const clsHooked = sdkRequire('cls-hooked/context') as typeof shim;

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

/** Each case runs against the package and against the shim: the shim must answer as cls-hooked does. */
const implementations = [
  ['cls-hooked', clsHooked],
  ['the shim', shim],
] as const;

describe.each(implementations)('a namespace of %s', (_, cls) => {
  it('keeps a run’s context across awaits and timers, and nested runs see their parent’s values', async () => {
    const ns = cls.createNamespace(`test-${Math.random()}`);
    const seen: unknown[] = [];
    await new Promise<void>((resolve) => {
      ns.run(() => {
        ns.set('segment', 'outer');
        setTimeout(async () => {
          seen.push(ns.get('segment'));
          ns.run(() => {
            seen.push(ns.get('segment'));
            ns.set('segment', 'inner');
          });
          await tick();
          seen.push(ns.get('segment'));
          resolve();
        }, 1);
      });
    });
    expect(seen).toEqual(['outer', 'outer', 'outer']);
  });

  it('keeps two concurrent runs apart', async () => {
    const ns = cls.createNamespace(`test-${Math.random()}`);
    const read = (name: string) =>
      new Promise<unknown>((resolve) =>
        ns.run(async () => {
          ns.set('segment', name);
          await tick();
          await tick();
          resolve(ns.get('segment'));
        }),
      );
    expect(await Promise.all([read('a'), read('b')])).toEqual(['a', 'b']);
  });

  it('makes a context entered outside any run the active one, as the SDK does with the Lambda facade', async () => {
    const ns = cls.createNamespace(`test-${Math.random()}`);
    expect(() => ns.set('segment', 'x')).toThrow(/No context available/);
    ns.enter(ns.createContext());
    ns.set('segment', 'facade');
    await tick();
    expect(ns.get('segment')).toBe('facade');
    ns.run(() => expect(ns.get('segment')).toBe('facade'));
  });

  it('binds a function to the context it was bound in, and finds namespaces by name', () => {
    const name = `test-${Math.random()}`;
    const ns = cls.createNamespace(name);
    expect(cls.getNamespace(name)).toBe(ns);
    let bound: () => unknown = () => undefined;
    ns.run(() => {
      ns.set('segment', 'bound');
      bound = ns.bind(() => ns.get('segment'));
    });
    expect(bound()).toBe('bound');
    const receiver = {
      self: ns.bind(function (this: unknown) {
        return this;
      }),
    };
    expect(receiver.self()).toBe(receiver);
    expect(ns.runAndReturn(() => 42)).toBe(42);
    cls.destroyNamespace(name);
    expect(cls.getNamespace(name)).toBeFalsy();
  });
});
