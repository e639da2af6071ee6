// The OpenAPI document as JSON Schema 2020-12 validators (ajv), shared by the
// document checks and the answer checks.

import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const here = path.dirname(fileURLToPath(import.meta.url));

export function documentPath() {
  return process.env.OPENAPI_DOCUMENT ?? path.join(here, '..', '..', '..', 'http', 'openapi.json');
}

export function readDocument(file = documentPath()) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

// Each component schema is added under its own id, and every
// "#/components/schemas/<name>" reference is rewritten to it.
const kSchemaBase = 'https://muster.invalid/components/schemas/';

/// Validators of the document's answers: `answer(method, pattern, status)`
/// gives the schema of that answer's JSON body (the status's own, else the
/// operation's `default`), compiled once; null when the operation or its
/// JSON answer is not in the document.
export function answerValidator(document) {
  // Strict: a keyword ajv does not know is a mistake, except OpenAPI's own.
  const ajv = new Ajv2020({strict: true, allErrors: true});
  addFormats(ajv);
  ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
  for (const [name, schema] of Object.entries(document.components.schemas)) {
    ajv.addSchema(rebase(schema), kSchemaBase + name);
  }
  const compiled = new Map();

  function responseOf(operation, status) {
    let response = operation.responses[String(status)] ?? operation.responses.default;
    if (response?.$ref) {
      response = document.components.responses[response.$ref.split('/').pop()];
    }
    return response;
  }

  function compileFor(method, pattern, status) {
    const operation = document.paths[pattern]?.[method.toLowerCase()];
    if (!operation) return null;
    const key = `${method} ${pattern} ${status}`;
    if (!compiled.has(key)) {
      const schema = responseOf(operation, status)?.content?.['application/json']?.schema;
      compiled.set(key, schema ? ajv.compile(rebase(schema)) : null);
    }
    return compiled.get(key);
  }

  return {
    answer: compileFor,
    errorsText: (errors) => ajv.errorsText(errors, {separator: '\n  '}),
    *allAnswers() {
      for (const [pattern, item] of Object.entries(document.paths)) {
        for (const [method, operation] of Object.entries(item)) {
          for (const status of Object.keys(operation.responses)) {
            yield {name: `${method.toUpperCase()} ${pattern} ${status}`,
                   compile: () => compileFor(method.toUpperCase(), pattern, status)};
          }
        }
      }
    },
  };
}

function rebase(schema) {
  const prefix = '#/components/schemas/';
  return JSON.parse(JSON.stringify(schema), (key, value) =>
    key === '$ref' && typeof value === 'string' && value.startsWith(prefix)
      ? kSchemaBase + value.slice(prefix.length) : value);
}
