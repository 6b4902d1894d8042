/**
 * `npm run infra`: starts the local Kafka broker, DynamoDB endpoint (dynoxide) and SNS endpoint (moto),
 * creates the manifest's topics, tables and SNS topics, prints where everything is, and stays up until Ctrl-C.
 *
 *   npm run infra -- [--kafka-port 9092] [--controller-port 9093] [--dynamodb-port 8000] [--sns-port 8001] [--data-dir .local/data]
 *   npm run infra -- --prepare   # only fetch the Kafka jars and the Python tools, check dynoxide's binary (CI warm-up), then exit
 *   npm run infra -- --reset     # start empty: delete Kafka's topics and offsets and the DynamoDB tables together
 *
 * With KAFKA_BROKERS / DYNAMODB_ENDPOINT / SNS_ENDPOINT set (e.g. docker-compose), those are used instead of
 * starting anything.
 */
import { flagsOf, portOf, readCommandLine } from '../../tools/command-line.ts';
import { ensurePythonTools } from '../python/venv.ts';
import { describeInfra } from './describe.ts';
import { dynoxideBinary } from './dynamodb.ts';
import {
  ensureKafkaJars,
  findJava,
  InfraError,
  type LocalInfra,
  provisionFromManifest,
  startLocalInfra,
} from './index.ts';
import { stopOnSignal } from './shutdown.ts';

const usage =
  'usage: npm run infra -- [--kafka-port <port>] [--controller-port <port>] [--dynamodb-port <port>] [--sns-port <port>] [--data-dir <dir>] [--table-prefix <prefix>] [--reset] [--prepare]';

const ports = ['kafka-port', 'controller-port', 'dynamodb-port', 'sns-port'] as const;
const options = flagsOf({ string: [...ports, 'data-dir', 'table-prefix'], boolean: ['reset', 'prepare'] });

const portsOf = (values: Partial<Record<(typeof ports)[number], string>>) => {
  const port = (flag: (typeof ports)[number]) => {
    const text = values[flag];
    return text === undefined ? undefined : portOf(flag, text);
  };
  return {
    kafkaPort: port('kafka-port'),
    controllerPort: port('controller-port'),
    dynamodbPort: port('dynamodb-port'),
    snsPort: port('sns-port'),
  };
};

async function main(): Promise<number> {
  const command = readCommandLine({ usage, options }, ({ values }) => ({ values, ports: portsOf(values) }));
  if (command.exitCode !== undefined) return command.exitCode;
  const { values, ports } = command.settings;

  const log = (line: string) => console.error(line);
  if (values.prepare) {
    try {
      await Promise.all([
        findJava(),
        ensureKafkaJars(log),
        ensurePythonTools(undefined, log),
        (async () => log(`[infra] DynamoDB endpoint: ${dynoxideBinary()}`))(),
      ]);
      log('[infra] Kafka jars, the dynoxide binary and the Python tools are ready');
      return 0;
    } catch (error) {
      console.error(`\n${error instanceof Error ? error.message : String(error)}`);
      return 1;
    }
  }
  let infra: LocalInfra | undefined;
  const signals = stopOnSignal('the local services', log, async () => {
    await infra?.stop();
  });

  try {
    infra = await startLocalInfra({
      ...ports,
      dataDir: values['data-dir'],
      reset: values.reset,
      log,
    });
    if (signals.stopping) return 0;
    const provisioned = await provisionFromManifest({ ...infra, tablePrefix: values['table-prefix'] });

    const lines = [
      ...describeInfra(infra, provisioned),
      '',
      `Use them from another shell: KAFKA_BROKERS=${infra.kafkaBrokers.join(',')} DYNAMODB_ENDPOINT=${infra.dynamodbEndpoint} SNS_ENDPOINT=${infra.snsEndpoint}`,
      'Ctrl-C stops everything.',
    ];
    console.log(lines.join('\n'));
    // Stay up: the child processes keep nothing on our event loop, so hold it open until a signal.
    await new Promise<never>(() => setInterval(() => {}, 1 << 30));
    return 0;
  } catch (error) {
    if (error instanceof InfraError) {
      console.error(`\n[${error.service}] ${error.message}`);
    } else {
      console.error(error);
    }
    await infra?.stop();
    return 1;
  }
}

process.exitCode = await main();
