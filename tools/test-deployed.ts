/**
 * `npm run test:deployed -- --stack <name> [--region <region>]`: proves a deployed stack works end to end,
 * every request SigV4-signed with your AWS credentials; `-- --local <api url>` runs the same checks
 * against `npm start -- --iam`. See tools/test-deployed/cli.ts and infra/README.md ("First deploy").
 */
import { run } from './test-deployed/cli.ts';

process.exitCode = await run(process.argv.slice(2), process.env, console);
