import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface NetworkProps {
  /** Deploy into this existing VPC (looked up at synth time) instead of creating one. */
  vpcId?: string;
}

/**
 * Where the cluster and the functions live. A new VPC has two AZs of private *isolated* subnets and no
 * NAT gateway: nothing in it needs the internet. DynamoDB is reached through a (free) gateway endpoint;
 * the MSK event source mappings run in provisioned mode, which needs no Lambda/STS endpoints or NAT;
 * broker addresses are resolved at deploy time, so the functions never call the MSK API.
 */
export class Network extends Construct {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly isNew: boolean;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    if (props.vpcId) {
      this.isNew = false;
      this.vpc = ec2.Vpc.fromLookup(this, 'Vpc', { vpcId: props.vpcId });
      // Prefer subnets with a NAT route (the existing VPC's way to DynamoDB); isolated ones otherwise.
      this.subnets = {
        subnetType:
          this.vpc.privateSubnets.length > 0
            ? ec2.SubnetType.PRIVATE_WITH_EGRESS
            : ec2.SubnetType.PRIVATE_ISOLATED,
      };
      return;
    }
    this.isNew = true;
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'private', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 22 }],
      gatewayEndpoints: { DynamoDb: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB } },
      flowLogs: {
        rejected: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
          trafficType: ec2.FlowLogTrafficType.REJECT,
        },
      },
    });
    this.subnets = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
  }
}
