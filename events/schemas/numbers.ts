import * as z from 'zod';

/**
 * DynamoDB's number type (Developer Guide, "Supported data types": up to 38 digits of precision,
 * positive 1E-130 to 9.9999999999999999999999999999999999999E+125, the same negative, and 0). A number
 * outside it is refused by every write, whatever the retries: such an event is poison at the schema edge
 * rather than a failed write later.
 */
export const DYNAMODB_MAX_MAGNITUDE = 9.99e125;
export const DYNAMODB_MIN_MAGNITUDE = 1e-130;
export const DYNAMODB_MAX_DIGITS = 38;

/** Significant digits of the shortest decimal that round-trips `n` (what the SDK sends), at most 17. */
const significantDigits = (n: number): number =>
  (Math.abs(n).toExponential().split('e')[0] ?? '').replace('.', '').length;

export function isDynamoDbNumber(n: number): boolean {
  if (!Number.isFinite(n)) return false;
  const magnitude = Math.abs(n);
  if (magnitude === 0) return true;
  return (
    magnitude <= DYNAMODB_MAX_MAGNITUDE &&
    magnitude >= DYNAMODB_MIN_MAGNITUDE &&
    significantDigits(n) <= DYNAMODB_MAX_DIGITS
  );
}

const message = `a finite number DynamoDB can store: 0, or a magnitude from ${DYNAMODB_MIN_MAGNITUDE} to ${DYNAMODB_MAX_MAGNITUDE}`;

/**
 * `base` (any number schema, e.g. `z.int().positive()`) restricted to what DynamoDB can store. The range
 * bounds show in the JSON Schema; the tiny-magnitude rule is a refinement.
 */
export function dynamoDbNumber(base: z.ZodNumber = z.number()): z.ZodNumber {
  return base
    .min(-DYNAMODB_MAX_MAGNITUDE, { message })
    .max(DYNAMODB_MAX_MAGNITUDE, { message })
    .refine(isDynamoDbNumber, { message });
}
