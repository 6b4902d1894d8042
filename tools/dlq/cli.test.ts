import { createServer, type Server, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../command-line.ts';
import {
  ExitCode,
  formatSummary,
  kafkaConfigOf,
  ledgerConfigOf,
  parseCommandLine,
  run,
  usage,
} from './cli.ts';

const quiet = () => {
  const lines: string[] = [];
  return { lines, out: { log: (l: string) => lines.push(l), error: (l: string) => lines.push(l) } };
};

describe('dlq:replay command line', () => {
  it('reads the filters, the switches and the timeouts', () => {
    expect(
      parseCommandLine([
        '--dry-run',
        '--topic',
        'OrderReceived',
        '--reason=poison',
        '--function',
        'inventory',
        '--order',
        'ord-1',
        '--include-failed-replays',
        '--timeout',
        '90',
        '--idle-timeout',
        '2',
      ]),
    ).toEqual({
      dryRun: true,
      includeFailedReplays: true,
      filter: { topic: 'OrderReceived', reason: 'poison', failedIn: 'inventory', orderId: 'ord-1' },
      timeouts: { overallMs: 90_000, idleMs: 2_000 },
    });
    expect(parseCommandLine([])).toMatchObject({ dryRun: false, includeFailedReplays: false, filter: {} });
  });

  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['--topic'], /argument missing/],
    [['--topic', '--dry-run'], /ambiguous/],
    [['--order='], /--order needs a value/],
    [['extra'], /Unexpected argument/],
    [['--dry-run=yes'], /does not take an argument/],
    [['--topic', 'Orders'], /--topic must be one of OrderReceived/],
    [['--topic', 'DeadLetterQueue'], /--topic must be one of/],
    [['--reason', 'bad'], /--reason must be poison or retries-exhausted/],
    [['--timeout', '0'], /--timeout must be a whole number of seconds from 1 to 86400/],
    // A fraction would round to 0 ms and time out before anything is read.
    [['--timeout', '0.0001'], /--timeout must be a whole number of seconds/],
    [['--idle-timeout', '2.5'], /--idle-timeout must be a whole number of seconds/],
    [['--idle-timeout=-1'], /--idle-timeout must be a whole number of seconds/],
    [['--timeout', '1e3'], /--timeout must be a whole number of seconds/],
    [['--timeout', ' 5'], /--timeout must be a whole number of seconds/],
    [['--timeout', '0x10'], /--timeout must be a whole number of seconds/],
    [['--timeout', '86401'], /--timeout must be a whole number of seconds from 1 to 86400/],
    [['--idle-timeout', 'Infinity'], /--idle-timeout must be a whole number of seconds/],
    // Exact step names of the manifest's consumers: no substring (inventory is not inventory-release).
    [['--function', 'inv'], /--function must be one of inventory, inventory-release, /],
    [['--function', 'Inventory'], /--function must be one of/],
    [['--function', 'order-api'], /--function must be one of/],
    [['--order', 'a', '--order', 'b'], /--order given twice/],
  ])('refuses %j with a clear message', (args, message) => {
    expect(() => parseCommandLine(args)).toThrow(UsageError);
    expect(() => parseCommandLine(args)).toThrow(message);
  });

  it('prints its usage for --help (exit 0) and with the reason for a bad flag (exit 2), touching nothing', async () => {
    const help = quiet();
    expect(await run(['--help'], {}, help.out)).toBe(ExitCode.ok);
    expect(help.lines).toEqual([usage]);
    const bad = quiet();
    expect(await run(['--bogus'], {}, bad.out)).toBe(ExitCode.usage);
    expect(bad.lines).toEqual([`dlq:replay: Unknown option '--bogus'\n${usage}`]);
  });

  it('takes a step name only exactly, each of the consumers of the manifest', () => {
    for (const step of ['inventory', 'inventory-release', 'warehouse', 'shipper', 'notification', 'kpis']) {
      expect(parseCommandLine(['--function', step]).filter).toEqual({ failedIn: step });
    }
    expect(parseCommandLine(['--timeout', '86400', '--idle-timeout', '1']).timeouts).toEqual({
      overallMs: 86_400_000,
      idleMs: 1_000,
    });
  });

  it('answers bad arguments and a bad broker list with exit code 2 and the usage, before any connection', async () => {
    const bad = quiet();
    expect(await run(['--nope'], {}, bad.out)).toBe(ExitCode.usage);
    expect(bad.lines.join('\n')).toMatch(/Unknown option '--nope'[\s\S]*usage: npm run dlq:replay/);
    const brokers = quiet();
    expect(await run([], { KAFKA_BROKERS: ' , ' }, brokers.out)).toBe(ExitCode.usage);
    expect(brokers.lines.join('\n')).toContain('KAFKA_BROKERS must be host:port');
    const iam = quiet();
    expect(await run([], { KAFKA_AUTH: 'iam' }, iam.out)).toBe(ExitCode.usage);
    expect(iam.lines.join('\n')).toContain('AWS_REGION is not set (needed to sign MSK IAM tokens)');
    const tiny = quiet();
    expect(await run(['--timeout', '0.0001'], {}, tiny.out)).toBe(ExitCode.usage);
    expect(tiny.lines.join('\n')).toContain('--timeout must be a whole number of seconds');
  });

  it('claims replays in the idempotency table: the local one, or the one the environment names', () => {
    const local = kafkaConfigOf({});
    expect(ledgerConfigOf({}, local)).toMatchObject({
      tableName: 'order-pipeline-idempotency',
      client: { endpoint: 'http://127.0.0.1:8000' },
    });
    const brokers = { KAFKA_BROKERS: '127.0.0.1:9092' };
    expect(
      ledgerConfigOf({ ...brokers, DYNAMODB_ENDPOINT: 'http://127.0.0.1:9000' }, kafkaConfigOf(brokers)),
    ).toMatchObject({
      tableName: 'order-pipeline-idempotency',
      client: { endpoint: 'http://127.0.0.1:9000' },
    });
    const arn = 'arn:aws:kafka:eu-west-1:123456789012:cluster/shared/0a1b2c3d-4e5f-6789-abcd-ef0123456789-7';
    const aws = { MSK_CLUSTER_ARN: arn, TABLE_IDEMPOTENCY: 'Stack-Idempotency-1A2B' };
    expect(ledgerConfigOf(aws, kafkaConfigOf(aws))).toEqual({
      tableName: 'Stack-Idempotency-1A2B',
      client: { region: 'eu-west-1' },
    });
    // A cluster named, no table and no local endpoint: nowhere to claim, so nothing is replayed.
    expect(() => ledgerConfigOf({ MSK_CLUSTER_ARN: arn }, kafkaConfigOf({ MSK_CLUSTER_ARN: arn }))).toThrow(
      /TABLE_IDEMPOTENCY is not set/,
    );
    expect(() => ledgerConfigOf({ TABLE_IDEMPOTENCY: 'a b' }, local)).toThrow(/not a table name/);
    expect(() => ledgerConfigOf({ DYNAMODB_ENDPOINT: 'not a url' }, local)).toThrow(UsageError);
  });

  it("reads the functions' environment contract, the local broker when it names no cluster", () => {
    expect(kafkaConfigOf({})).toMatchObject({ brokers: ['127.0.0.1:9092'], auth: 'none' });
    expect(
      kafkaConfigOf({ KAFKA_BROKERS: 'b-1.msk:9098', KAFKA_AUTH: 'iam', AWS_DEFAULT_REGION: 'eu-west-1' }),
    ).toEqual({
      brokers: ['b-1.msk:9098'],
      clusterArn: undefined,
      auth: 'iam',
      region: 'eu-west-1',
    });
    // A cluster ARN alone: IAM, brokers resolved from the cluster, region from the ARN.
    const arn = 'arn:aws:kafka:eu-west-1:123456789012:cluster/shared/0a1b2c3d-4e5f-6789-abcd-ef0123456789-7';
    expect(kafkaConfigOf({ MSK_CLUSTER_ARN: arn })).toEqual({
      brokers: [],
      clusterArn: arn,
      auth: 'iam',
      region: 'eu-west-1',
    });
    expect(() => kafkaConfigOf({ KAFKA_AUTH: 'sasl' })).toThrow(UsageError);
    expect(() => kafkaConfigOf({ KAFKA_BROKERS: 'no-port' })).toThrow(/KAFKA_BROKERS must be host:port/);
  });

  it('reports what was read, what went back and why the rest stayed', () => {
    const summary = {
      scanned: 9,
      letters: 6,
      markers: 2,
      unreadable: 1,
      matched: 5,
      alreadyReplayed: 2,
      replayed: 1,
      wouldReplay: 0,
      interrupted: false,
      skipped: [
        { letter: 'DeadLetterQueue:0:4', kind: 'failed again after a replay', reason: '...' },
        { letter: 'DeadLetterQueue:1:2', kind: 'truncated, original gone from its topic', reason: '...' },
      ] as const,
    };
    expect(formatSummary({ ...summary, skipped: [...summary.skipped] }, false)).toEqual([
      '9 record(s) read from DeadLetterQueue: 6 dead letter(s), 2 replay marker(s), 1 unreadable',
      '5 matched: 1 replayed, 2 already replayed, 2 skipped',
      '  skipped 1: failed again after a replay',
      '  skipped 1: truncated, original gone from its topic',
    ]);
    expect(formatSummary({ ...summary, replayed: 0, wouldReplay: 1, skipped: [] }, true)[1]).toBe(
      '5 matched: 1 would be replayed, 2 already replayed, 0 skipped',
    );
    expect(formatSummary({ ...summary, skipped: [], interrupted: true }, false).at(-1)).toMatch(
      /^interrupted/,
    );
  });

  it('answers a broker that accepts connections and never replies with a timeout and exit code 3', async () => {
    const sockets: Socket[] = [];
    const server = await listen(createServer((socket) => sockets.push(socket)));
    try {
      const { lines, out } = quiet();
      const code = await run(
        ['--dry-run', '--timeout', '20', '--idle-timeout', '1'],
        { KAFKA_BROKERS: address(server), DYNAMODB_ENDPOINT: 'http://127.0.0.1:9' },
        out,
      );
      expect(code).toBe(ExitCode.timeout);
      expect(lines.join('\n')).toMatch(
        /dlq:replay timed out against 127\.0\.0\.1:\d+ \(claims in order-pipeline-idempotency\): listing the offsets of DeadLetterQueue timed out/,
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('answers an unreachable broker with exit code 1 and what failed', async () => {
    // A port that was free a moment ago: nothing listens there.
    const server = await listen(createServer());
    const broker = address(server);
    await new Promise((resolve) => server.close(resolve));
    const { lines, out } = quiet();
    const env = { KAFKA_BROKERS: broker, DYNAMODB_ENDPOINT: 'http://127.0.0.1:9' };
    expect(await run(['--timeout', '60'], env, out)).toBe(ExitCode.kafka);
    expect(lines.join('\n')).toMatch(
      new RegExp(
        `dlq:replay failed against ${broker} \\(claims in order-pipeline-idempotency\\): .*Cannot connect to any broker: Connection to ${broker} failed`,
      ),
    );
  });
});

function listen(server: Server): Promise<Server> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function address(server: Server): string {
  const info = server.address();
  if (info === null || typeof info === 'string') throw new Error('not listening on a port');
  return `127.0.0.1:${info.port}`;
}
