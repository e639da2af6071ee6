// http/openapi.json is a valid OpenAPI 3.1 document: checked against the
// OpenAPI Initiative's 3.1 schema by @seriousme/openapi-schema-validator,
// and every schema compiles under JSON Schema 2020-12 (ajv) with every $ref
// resolving, so the e2e answer checks (answers.mjs) can use each one.
// OPENAPI_DOCUMENT overrides the file (to see a broken document fail).
//
// Run: `ctest -R 'openapi: document'`, or `node --test document.test.mjs`
// here after `npm ci` (scripts/test does that).

import assert from 'node:assert/strict';
import {test} from 'node:test';

import {Validator} from '@seriousme/openapi-schema-validator';

import {answerValidator, documentPath, readDocument} from './schemas.mjs';

test('the document is valid OpenAPI 3.1', async () => {
  const result = await new Validator().validate(readDocument());
  assert.ok(result.valid, `${documentPath()} is not valid OpenAPI 3.1:\n${JSON.stringify(result.errors, null, 2)}`);
});

test('every operation states its credentials, its role and its answers', () => {
  const document = readDocument();
  const roles = ['none', 'viewer', 'operator', 'admin'];
  const problems = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const name = `${method.toUpperCase()} ${path}`;
      if (!Array.isArray(operation.security)) problems.push(`${name}: no security`);
      if (!roles.includes(operation['x-muster-role'])) problems.push(`${name}: x-muster-role not one of ${roles}`);
      if (!operation.responses?.default) problems.push(`${name}: no default (error) answer`);
    }
  }
  assert.deepEqual(problems, []);
});

test('every answer schema compiles under JSON Schema 2020-12, its $refs resolved', () => {
  const validator = answerValidator(readDocument());
  const problems = [];
  for (const {name, compile} of validator.allAnswers()) {
    try {
      compile();
    } catch (error) {
      problems.push(`${name}: ${error.message}`);
    }
  }
  assert.deepEqual(problems, []);
});
