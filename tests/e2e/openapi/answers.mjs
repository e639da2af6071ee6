// Checks real answers against the document: `node answers.mjs ANSWERS.json`
// where the file holds [{method, pattern, status, body}, ...] (the route's
// pattern as the document names it, the answer's status and parsed JSON
// body). Each body must match the schema of its operation's answer for that
// status (else the operation's default, the Error). Prints every mismatch
// and exits 1 if there was one. tests/e2e/openapi.test.cpp writes the file
// from answers of the real binary.

import fs from 'node:fs';

import {answerValidator, documentPath, readDocument} from './schemas.mjs';

const [answersFile] = process.argv.slice(2);
if (!answersFile) {
  console.error('usage: node answers.mjs ANSWERS.json');
  process.exit(2);
}
const validator = answerValidator(readDocument());
const answers = JSON.parse(fs.readFileSync(answersFile, 'utf8'));
let failures = 0;
for (const {method, pattern, status, body} of answers) {
  const name = `${method} ${pattern} ${status}`;
  const validate = validator.answer(method, pattern, status);
  if (!validate) {
    console.error(`${name}: no JSON answer for it in ${documentPath()}`);
    ++failures;
  } else if (!validate(body)) {
    console.error(`${name}: the answer does not match its schema:\n  ${validator.errorsText(validate.errors)}\n  answer: ${JSON.stringify(body)}`);
    ++failures;
  }
}
console.log(`${answers.length - failures} of ${answers.length} answers match the document`);
process.exit(failures === 0 ? 0 : 1);
