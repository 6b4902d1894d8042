/**
 * `ajv/dist/2020.js` as the Lambda bundles see it (aliased in ../bundling.ts). @platformatic/kafka
 * compiles a JSON schema validator for every client option at import (130 KB of ajv and most of the
 * module init), but calls them only with `strict: true`, which the functions never set (its default is
 * false). A validator that is called anyway fails loudly instead of passing everything.
 */
const unavailable = () => {
  throw new Error(
    'JSON schema validation is not in the Lambda bundles (infra/lib/bundle-shims/ajv-2020.ts): @platformatic/kafka `strict: true` is unsupported there',
  );
};

export class Ajv2020 {
  addKeyword(): this {
    return this;
  }
  compile(): () => never {
    return unavailable;
  }
  errorsText(): string {
    return '';
  }
}

export default Ajv2020;
