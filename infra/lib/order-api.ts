import { type CfnResource, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { manifest } from '../../topology/manifest.ts';
import { acceptFinding, nagArnPrefix } from './nag.ts';
import { orderRequestJsonSchema, toApiGatewaySchema } from './order-request-model.ts';

export interface OrderApiProps {
  handler: lambda.IFunction;
  rateLimit: number;
  burstLimit: number;
}

export const STAGE = 'v1';

/**
 * The REST API in front of order-api (Lambda proxy integration). `GET /health` is open; the order
 * routes need SigV4-signed requests (IAM auth) from a principal allowed `execute-api:Invoke` — the
 * `clientPolicy` grants exactly that. `POST /orders` bodies are validated against a model derived from
 * the zod schema before the function runs; the stage is throttled, traced and access-logged.
 */
export class OrderApi extends Construct {
  readonly api: apigw.RestApi;
  readonly clientPolicy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: OrderApiProps) {
    super(scope, id);
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.api = new apigw.RestApi(this, 'Api', {
      description: 'Order pipeline API (order-api)',
      endpointTypes: [apigw.EndpointType.REGIONAL],
      // Execution and access logs need API Gateway's account-level CloudWatch role.
      cloudWatchRole: true,
      deployOptions: {
        stageName: STAGE,
        throttlingRateLimit: props.rateLimit,
        throttlingBurstLimit: props.burstLimit,
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields({
          caller: true,
          httpMethod: true,
          ip: true,
          protocol: true,
          requestTime: true,
          resourcePath: true,
          responseLength: true,
          status: true,
          user: true,
        }),
      },
      defaultMethodOptions: { authorizationType: apigw.AuthorizationType.IAM },
    });

    // Validation failures answer 400 with what was wrong, not just "Invalid request body".
    for (const type of [apigw.ResponseType.BAD_REQUEST_BODY, apigw.ResponseType.BAD_REQUEST_PARAMETERS]) {
      this.api.addGatewayResponse(`${type.responseType}Response`, {
        type,
        statusCode: '400',
        templates: {
          'application/json':
            '{"error":"invalid request","details":"$context.error.validationErrorString","requestId":"$context.requestId"}',
        },
      });
    }

    const integration = new apigw.LambdaIntegration(props.handler);
    const orderRequest = this.api.addModel('OrderRequest', {
      contentType: 'application/json',
      modelName: 'OrderRequest',
      description: 'POST /orders body, derived from the zod OrderRequest schema',
      schema: toApiGatewaySchema(orderRequestJsonSchema()),
    });

    // One validator for both order routes: the POST body against the model, the GET path parameter.
    const requestValidator = new apigw.RequestValidator(this, 'RequestValidator', {
      restApi: this.api,
      validateRequestBody: true,
      validateRequestParameters: true,
    });

    // The routes and their auth come from the manifest; what is specific to a route (its body model,
    // its parameters) is looked up here by method and resource.
    const routeOptions: Record<string, apigw.MethodOptions> = {
      'POST /orders': {
        requestValidator,
        requestModels: { 'application/json': orderRequest },
        requestParameters: { 'method.request.header.Idempotency-Key': false },
      },
      'GET /orders/{id}': { requestValidator, requestParameters: { 'method.request.path.id': true } },
      // No body model: the body is optional (an empty one cancels without a reason), and the function
      // answers a malformed one with a 4xx that names the field, like API Gateway would.
      'POST /orders/{id}/cancel': {
        requestValidator,
        requestParameters: {
          'method.request.path.id': true,
          'method.request.header.Idempotency-Key': false,
        },
      },
    };
    const signedRoutes: string[] = [];
    for (const route of manifest.functions['order-api'].trigger.routes) {
      const key = `${route.method} ${route.resource}`;
      const method = this.api.root.resourceForPath(route.resource).addMethod(route.method, integration, {
        ...routeOptions[key],
        authorizationType: route.auth === 'iam' ? apigw.AuthorizationType.IAM : apigw.AuthorizationType.NONE,
      });
      if (route.auth === 'iam') {
        // A path parameter matches any value in an execute-api ARN.
        signedRoutes.push(
          this.api.arnForExecuteApi(route.method, route.resource.replace(/\{\w+\}/g, '*'), STAGE),
        );
      } else {
        acceptFinding(method, 'AwsSolutions-APIG4', `${key} is a public liveness probe and returns no data`);
      }
    }

    this.clientPolicy = new iam.ManagedPolicy(this, 'ClientPolicy', {
      description: 'Lets a principal call the SigV4-signed routes of the order API',
      statements: [new iam.PolicyStatement({ actions: ['execute-api:Invoke'], resources: signedRoutes })],
    });

    acceptFinding(
      this.api,
      'AwsSolutions-COG4',
      'The order routes use IAM (SigV4) authorization instead of a Cognito user pool; /health is open',
    );
    acceptFinding(
      this.api,
      'AwsSolutions-APIG3',
      'No WAF web ACL: the routes that do work need SigV4-signed requests and the stage is throttled; attach a web ACL (about $6/month and up) when exposing the API widely',
    );
    acceptFinding(
      this.api,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      "API Gateway's account-level logging role, which access and execution logs require, uses this AWS managed policy",
    );
    acceptFinding(
      this.clientPolicy,
      `AwsSolutions-IAM5[Resource::${nagArnPrefix(this, 'execute-api')}:<${Stack.of(this).getLogicalId(this.api.node.defaultChild as CfnResource)}>/${STAGE}/GET/orders/*]`,
      'The wildcard is the {id} path parameter of GET /orders/{id}: a client may read any order id',
    );
    acceptFinding(
      this.clientPolicy,
      `AwsSolutions-IAM5[Resource::${nagArnPrefix(this, 'execute-api')}:<${Stack.of(this).getLogicalId(this.api.node.defaultChild as CfnResource)}>/${STAGE}/POST/orders/*/cancel]`,
      'The wildcard is the {id} path parameter of POST /orders/{id}/cancel: a client may cancel any order id',
    );
  }
}
