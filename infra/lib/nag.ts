import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Accepts a cdk-nag finding on `scope` and everything under it, with the reason next to the code that
 * causes it. Granular ids (`AwsSolutions-IAM5[Resource::*]`) accept one finding, not the whole rule.
 */
export function acceptFinding(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/** The wildcard ARNs of the network-interface permissions every VPC function role carries. */
export const vpcEniWildcards = ['network-interface/*', 'subnet/*', 'security-group/*'].map(
  (resource) =>
    `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:${resource}]`,
);

/** Findings every VPC function role of this stack carries, accepted for the reasons given. */
export function acceptVpcFunctionRoleFindings(scope: IConstruct): void {
  acceptFinding(
    scope,
    'AwsSolutions-IAM5[Resource::*]',
    'X-Ray PutTraceSegments/PutTelemetryRecords and EC2 Describe* calls support no resource-level permissions',
  );
  for (const id of vpcEniWildcards) {
    acceptFinding(
      scope,
      id,
      'Lambda creates and deletes the VPC network interfaces of the function (and of its event source mapping) with ids unknown in advance; scoped to this account and region',
    );
  }
}
