// contracts/golden/ (generated from the engine's models) against this SDK: `node --test`
// (tests/unit/test_golden_runtimes.py runs it).
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');
const sdk = require('../lib/workflows-worker');
const example = require('../worker');

const contracts = sdk.Contracts.find();
const golden = (name) => JSON.parse(fs.readFileSync(path.join(contracts.root, 'golden', name), 'utf8'));
const manifest = golden('cases.json');
const command = fs.readFileSync(path.join(contracts.root, 'golden', manifest.command));

test('the SDK knows every field of the contract', () => {
  for (const [what, fields, stem, def] of [
    ['command', sdk.COMMAND_FIELDS, 'step-command', null],
    ['result', sdk.RESULT_FIELDS, 'step-result', null],
    ['error', sdk.ERROR_FIELDS, 'step-result', 'StepError'],
    ['dead letter', sdk.DEAD_LETTER_FIELDS, 'dead-letter', null],
  ]) {
    assert.deepEqual([...fields].sort(), contracts.properties(stem, def), `${what}: teach the Node.js SDK the contract change`);
  }
});

test('the golden command is valid and carries only known fields', () => {
  const value = JSON.parse(command);
  assert.deepEqual(contracts.violations('step-command', value), []);
  const known = Object.fromEntries(sdk.COMMAND_FIELDS.map((f) => [f, value[f]]));
  assert.deepEqual(known, value, 'the command does not survive the Node.js SDK');
});

for (const c of manifest.cases) {
  test(`golden case: ${c.name}`, async () => {
    const worker = new sdk.Worker({ contracts, workerId: 'node-golden' });
    worker.register('sendPersonalizedEmail', async (input, ctx) => {
      assert.ok(ctx.idempotencyKey);
      const raises = c.function.raises;
      if (raises) {
        const Kind = raises.retryable ? sdk.RetryableError : sdk.FinalError;
        throw new Kind(raises.type, raises.message, raises.details);
      }
      return c.function.returns;
    });
    const got = JSON.parse(JSON.stringify(await worker.process(command)));
    assert.deepEqual(contracts.violations('step-result', got), []);
    const want = golden(c.result);
    for (const field of manifest.sdkFills) {
      assert.ok(got[field] !== null && got[field] !== undefined, `the SDK must fill ${field}`);
      delete got[field];
      delete want[field];
    }
    assert.deepEqual(got, want, `${c.name} result differs from golden/${c.result}`);
  });
}

test('an invalid command is dead-lettered', async () => {
  const worker = new sdk.Worker({ contracts, workerId: 'node-golden' });
  const value = Buffer.from('{"executionId": "ex-1"}');
  await assert.rejects(worker.process(value), (err) => err instanceof sdk.InvalidCommand && /commandId/.test(err.message));
  const letter = worker.deadLetter('wf.fn.x', 0, '7', Buffer.from('ex-1'), value, 'missing commandId');
  assert.deepEqual(contracts.violations('dead-letter', letter), []);
});

test('the example answers the golden command like the golden ok result', async () => {
  const result = await example.worker({ contracts, workerId: 'node-golden' }).process(command);
  assert.deepEqual(result.output, { ...golden('step-result-ok.json').output, sentBy: 'node' });
});

test('the golden signature: HMAC-SHA256 of the command bytes, verified and refused', () => {
  const { key, value, signature } = manifest.signing;
  const bytes = fs.readFileSync(path.join(contracts.root, 'golden', value));
  assert.equal(sdk.signature(key, bytes), signature);
  assert.equal(sdk.signatureProblem([key], bytes, { 'wf-signature': Buffer.from(signature) }), null);
  assert.match(sdk.signatureProblem(['other'], bytes, { 'wf-signature': Buffer.from(signature) }), /does not match/);
  assert.match(sdk.signatureProblem([key], bytes, {}), /no wf-signature header/);
  assert.equal(sdk.signatureProblem([], bytes, {}), null);
});
