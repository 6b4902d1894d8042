import { Stack, Token, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Accepts a cdk-nag finding on `scope` and everything under it, with the reason next to the code that
 * causes it. Granular ids (`AwsSolutions-IAM5[Resource::*]`) accept one finding, not the whole rule.
 */
export function acceptFinding(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/**
 * `arn:<partition>:<service>:<region>:<account>` spelled as cdk-nag reports it in finding ids: pseudo
 * parameters in an environment-agnostic stack, literals in a stack with an account and region.
 */
export function nagArnPrefix(scope: IConstruct, service: string): string {
  const { region, account } = Stack.of(scope);
  const literal = (value: string, pseudo: string) => (Token.isUnresolved(value) ? `<${pseudo}>` : value);
  return `arn:<AWS::Partition>:${service}:${literal(region, 'AWS::Region')}:${literal(account, 'AWS::AccountId')}`;
}

/** The wildcard ARNs of the network-interface permissions every VPC function role carries. */
export function vpcEniWildcards(scope: IConstruct): string[] {
  return ['network-interface/*', 'subnet/*', 'security-group/*'].map(
    (resource) => `AwsSolutions-IAM5[Resource::${nagArnPrefix(scope, 'ec2')}:${resource}]`,
  );
}

/** Findings every VPC function role of this stack carries, accepted for the reasons given. */
export function acceptVpcFunctionRoleFindings(scope: IConstruct): void {
  acceptFinding(
    scope,
    'AwsSolutions-IAM5[Resource::*]',
    'X-Ray PutTraceSegments/PutTelemetryRecords and EC2 Describe* calls support no resource-level permissions',
  );
  for (const id of vpcEniWildcards(scope)) {
    acceptFinding(
      scope,
      id,
      'Lambda creates and deletes the VPC network interfaces of the function (and of its event source mapping) with ids unknown in advance; scoped to this account and region',
    );
  }
}
