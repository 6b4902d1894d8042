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
import { dynoxideBinary } from './dynamodb.ts';
import { ensureKafkaJars, findJava, InfraError, type LocalInfra, startProvisioned } from './index.ts';
import { stopOnSignal } from './process.ts';

const usage =
  'usage: npm run infra -- [--kafka-port <port>] [--controller-port <port>] [--dynamodb-port <port>] [--sns-port <port>] [--data-dir <dir>] [--table-prefix <prefix>] [--reset] [--prepare]';

const options = flagsOf({
  string: ['kafka-port', 'controller-port', 'dynamodb-port', 'sns-port', 'data-dir', 'table-prefix'],
  boolean: ['reset', 'prepare'],
});

async function main(): Promise<number> {
  const command = readCommandLine({ usage, options }, ({ values }) => {
    const port = (flag: 'kafka-port' | 'controller-port' | 'dynamodb-port' | 'sns-port') =>
      values[flag] === undefined ? undefined : portOf(flag, values[flag]);
    const ports = { kafkaPort: port('kafka-port'), controllerPort: port('controller-port') };
    return { values, ports: { ...ports, dynamodbPort: port('dynamodb-port'), snsPort: port('sns-port') } };
  });
  if (command.exitCode !== undefined) return command.exitCode;
  const { values, ports } = command.settings;
  const log = (line: string) => console.error(line);
  let infra: LocalInfra | undefined;
  stopOnSignal('the local services', log, async () => {
    await infra?.stop();
  });
  try {
    if (values.prepare) {
      log(`[infra] DynamoDB endpoint: ${dynoxideBinary()}`);
      await Promise.all([findJava(), ensureKafkaJars(log), ensurePythonTools(undefined, log)]);
      log('[infra] Kafka jars, the dynoxide binary and the Python tools are ready');
      return 0;
    }
    const start = {
      ...ports,
      dataDir: values['data-dir'],
      reset: values.reset,
      tablePrefix: values['table-prefix'],
    };
    infra = await startProvisioned({ ...start, log });
    console.log(
      `\nUse them from another shell: KAFKA_BROKERS=${infra.kafkaBrokers.join(',')} DYNAMODB_ENDPOINT=${infra.dynamodbEndpoint} SNS_ENDPOINT=${infra.snsEndpoint}\nCtrl-C stops everything.`,
    );
    // Stay up: the child processes keep nothing on our event loop, so hold it open until a signal.
    await new Promise<never>(() => setInterval(() => {}, 1 << 30));
    return 0;
  } catch (error) {
    console.error(`\n${error instanceof InfraError ? `[${error.service}] ${error.message}` : error}`);
    return 1;
  }
}

process.exitCode = await main();
