import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

export interface VpcLambdaRoleOptions {
  description: string;
  logGroup: logs.ILogGroup;
  /** The function is the target of an MSK event source mapping, whose pollers describe the network too. */
  eventSourceMapping?: boolean;
}

/**
 * An execution role with no managed policies: logs to its own log group, and the network-interface
 * permissions a VPC function (and an MSK event source mapping) needs. EC2's Describe* calls have no
 * resource-level permissions; the mutating calls are scoped to this account and region.
 */
export function vpcLambdaRole(scope: Construct, id: string, options: VpcLambdaRoleOptions): iam.Role {
  const role = new iam.Role(scope, id, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: options.description,
  });
  options.logGroup.grantWrite(role);
  const { partition, region, account } = Stack.of(scope);
  const ec2Arn = (resource: string) => `arn:${partition}:ec2:${region}:${account}:${resource}`;
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'VpcDescribe',
      actions: [
        'ec2:DescribeNetworkInterfaces',
        'ec2:DescribeSubnets',
        ...(options.eventSourceMapping ? ['ec2:DescribeVpcs', 'ec2:DescribeSecurityGroups'] : []),
      ],
      resources: ['*'],
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'VpcNetworkInterfaces',
      actions: [
        'ec2:CreateNetworkInterface',
        'ec2:DeleteNetworkInterface',
        'ec2:AssignPrivateIpAddresses',
        'ec2:UnassignPrivateIpAddresses',
      ],
      resources: [ec2Arn('network-interface/*'), ec2Arn('subnet/*'), ec2Arn('security-group/*')],
    }),
  );
  return role;
}
