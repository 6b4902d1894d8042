/**
 * `@aws-sdk/credential-providers` as the Lambda bundles see it (aliased in ../bundling.ts), for the MSK
 * IAM signer (aws-msk-iam-sasl-signer-js), which requires the whole package: every provider, with the
 * Cognito, SSO and STS clients they bring (~300 KB). On Lambda the execution role's credentials are in
 * the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), where the default chain
 * looks first. The signer's profile and role variants are not used by the functions and fail loudly.
 */

export interface EnvironmentCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** The default chain's first provider, as `fromEnv` of @aws-sdk/credential-provider-env reads it. */
export const fromNodeProviderChain = () => async (): Promise<EnvironmentCredentials> => {
  const { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_CREDENTIAL_EXPIRATION } =
    process.env;
  if (!AWS_ACCESS_KEY_ID || !AWS_SECRET_ACCESS_KEY) {
    throw new Error('No AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)');
  }
  return {
    accessKeyId: AWS_ACCESS_KEY_ID,
    secretAccessKey: AWS_SECRET_ACCESS_KEY,
    ...(AWS_SESSION_TOKEN ? { sessionToken: AWS_SESSION_TOKEN } : {}),
    ...(AWS_CREDENTIAL_EXPIRATION ? { expiration: new Date(AWS_CREDENTIAL_EXPIRATION) } : {}),
  };
};

const unavailable = (name: string) => () => {
  throw new Error(
    `${name} is not in the Lambda bundles (infra/lib/bundle-shims/aws-credential-providers.ts): the functions sign with the execution role's environment credentials`,
  );
};

export const fromIni = unavailable('fromIni');
export const fromTemporaryCredentials = unavailable('fromTemporaryCredentials');
