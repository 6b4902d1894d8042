/**
 * The credentials `npm start -- --iam` checks signatures against, and `npm run test:deployed -- --local`
 * signs with: the shell's `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), else the
 * local defaults below. One function for both sides, so they agree without configuration.
 */
import { localRegion } from './lambda-context.ts';
import type { SigV4Credentials, SigV4VerifierOptions } from './sigv4-verifier.ts';

/** Used when the environment names no credentials (the same the local DynamoDB and SNS clients use). */
export const LOCAL_IAM_DEFAULTS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

export function localIamCredentials(env: NodeJS.ProcessEnv = process.env): SigV4Credentials {
  const { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN } = env;
  if (!AWS_ACCESS_KEY_ID || !AWS_SECRET_ACCESS_KEY) return { ...LOCAL_IAM_DEFAULTS };
  return {
    accessKeyId: AWS_ACCESS_KEY_ID,
    secretAccessKey: AWS_SECRET_ACCESS_KEY,
    ...(AWS_SESSION_TOKEN ? { sessionToken: AWS_SESSION_TOKEN } : {}),
  };
}

/** What the API emulator verifies with: these credentials, in the region the runtime gives the functions. */
export function localIamVerifier(env: NodeJS.ProcessEnv = process.env): SigV4VerifierOptions {
  return { credentials: localIamCredentials(env), region: localRegion() };
}
