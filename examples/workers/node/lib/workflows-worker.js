// A small SDK for Workflows function workers in Node.js (kafkajs).
//
//   const { Worker, FinalError, RetryableError } = require('./lib/workflows-worker');
//   const worker = new Worker();
//   worker.register('sendPersonalizedEmail', async (input, ctx) => ({ ... }), { input: schema });
//   worker.run(); // until SIGTERM/SIGINT, then drain
//
// For each function it consumes <prefix>wf.fn.<function> in the consumer group
// <prefix>wf-worker-<function>, validates every command against step-command.schema.json
// (Ajv, draft 2020-12, formats checked), calls the function (its input validated against the
// optional `input` JSON schema), validates and publishes the StepResult to
// <prefix>wf.steps.results keyed by execution id (kafkajs 2's default partitioner is the
// Java client's murmur2) and commits the offset once the broker has the result
// (at-least-once). Records that are not valid commands go to <prefix>wf.dlq. Throw
// RetryableError / FinalError to fail with a type; any other error is retryable.
// With WORKFLOWS_SIGNING_KEY set, every record it produces carries the header
// wf-signature: v1=<hex HMAC-SHA256 of the value bytes>, and a command without a valid one
// goes to the DLQ (docs/worker-protocol.md, "Signing").
'use strict';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const Ajv2020 = require('ajv/dist/2020');
const addFormats = require('ajv-formats');
const tracing = require('./tracing');

/** The wf-signature header value of `value` (a Buffer or string) under `key`. */
function signature(key, value) {
  return 'v1=' + crypto.createHmac('sha256', key).update(value).digest('hex');
}

/** Why a command record is not validly signed under `keys`, or null (signing off or valid). */
function signatureProblem(keys, value, headers) {
  if (keys.length === 0) return null;
  const given = headers && headers['wf-signature'];
  if (!given) return 'the record has no wf-signature header and signing is on';
  const got = Buffer.from(given.toString());
  const ok = keys.some((key) => {
    const want = Buffer.from(signature(key, value));
    return want.length === got.length && crypto.timingSafeEqual(want, got);
  });
  return ok ? null : "the record's wf-signature does not match its value under any signing key";
}

/** The signing keys from the environment: the current one first, then the previous ones. */
function signingKeys() {
  const keys = [process.env.WORKFLOWS_SIGNING_KEY || ''];
  if (process.env.WORKFLOWS_SIGNING_KEYS_PREVIOUS) keys.push(...JSON.parse(process.env.WORKFLOWS_SIGNING_KEYS_PREVIOUS));
  return keys.filter((k) => k);
}

/** A step failure with a type; `retryable: false` is final (a fallback still runs). */
class StepFailure extends Error {
  constructor(type, message, { retryable, details = null }) {
    super(message);
    this.type = type;
    this.retryable = retryable;
    this.details = details;
  }
}

/** The orchestrator retries with the workflow's backoff (until maxAttempts). */
class RetryableError extends StepFailure {
  constructor(type, message, details = null) {
    super(type, message, { retryable: true, details });
  }
}

/** Not retried. */
class FinalError extends StepFailure {
  constructor(type, message, details = null) {
    super(type, message, { retryable: false, details });
  }
}

/** A record that is not a valid step command (it goes to the DLQ). */
class InvalidCommand extends Error {}

// The properties this SDK reads or writes, one list per schema: the golden test fails when
// the contract gains a property this SDK does not know yet.
const COMMAND_FIELDS = [
  'schemaVersion', 'messageId', 'executionId', 'occurredAt', 'commandId', 'workflow',
  'workflowVersion', 'stepId', 'function', 'input', 'attempt', 'deadline', 'idempotencyKey',
  'inputRef', 'priority',
];
const RESULT_FIELDS = [
  'schemaVersion', 'messageId', 'executionId', 'occurredAt', 'commandId', 'stepId', 'attempt',
  'ok', 'output', 'error', 'workerId', 'startedAt', 'finishedAt', 'call', 'logs',
];
const ERROR_FIELDS = ['type', 'message', 'retryable', 'details'];
const DEAD_LETTER_FIELDS = [
  'schemaVersion', 'messageId', 'occurredAt', 'sourceTopic', 'partition', 'offset', 'key',
  'reason', 'errorType', 'originalB64', 'originalText', 'service', 'executionId',
];

/** contracts/schemas/*.schema.json from a `contracts` folder. */
class Contracts {
  constructor(root) {
    this.root = root;
    this.schemas = {};
    this.ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats(this.ajv);
    for (const stem of ['step-command', 'step-result', 'dead-letter']) {
      const file = path.join(root, 'schemas', `${stem}.schema.json`);
      this.schemas[stem] = JSON.parse(fs.readFileSync(file, 'utf8'));
      this.ajv.addSchema(this.schemas[stem], stem);
    }
  }

  /** $WORKFLOWS_CONTRACTS_DIR, else the first `contracts` folder with schemas/ found walking
   * up from the working directory, then from this file. */
  static find() {
    if (process.env.WORKFLOWS_CONTRACTS_DIR) return new Contracts(process.env.WORKFLOWS_CONTRACTS_DIR);
    for (const start of [process.cwd(), __dirname]) {
      for (let dir = path.resolve(start); ; dir = path.dirname(dir)) {
        if (fs.existsSync(path.join(dir, 'contracts', 'schemas', 'step-command.schema.json'))) {
          return new Contracts(path.join(dir, 'contracts'));
        }
        if (path.dirname(dir) === dir) break;
      }
    }
    throw new Error('contracts/schemas not found: set WORKFLOWS_CONTRACTS_DIR');
  }

  /** Every violation of `message` against schema `stem`, as `at /path: why` (empty: valid). */
  violations(stem, message) {
    const validate = this.ajv.getSchema(stem);
    if (validate(message)) return [];
    return validate.errors.map((e) => `at ${e.instancePath || '/'}: ${e.message}${e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : ''}${e.params && e.params.missingProperty ? ` (${e.params.missingProperty})` : ''}`);
  }

  properties(stem, def = null) {
    const schema = def ? this.schemas[stem].$defs[def] : this.schemas[stem];
    return Object.keys(schema.properties).sort();
  }
}

const now = () => new Date().toISOString();
const newId = () => crypto.randomUUID().replace(/-/g, '');

class Worker {
  constructor({ contracts, workerId } = {}) {
    this.contracts = contracts || Contracts.find();
    this.workerId = workerId || process.env.WORKFLOWS_WORKER_ID || `node-${os.hostname()}-${process.pid}`;
    this.functions = new Map();
    this.done = new Map(); // idempotencyKey -> final result (keep it durable in production)
    this.consumers = [];
  }

  /** Serve `name` with `fn(input, ctx)`; `options.input` is a JSON schema for the input. */
  register(name, fn, options = {}) {
    const validateInput = options.input ? this.contracts.ajv.compile(options.input) : null;
    this.functions.set(name, { fn, validateInput });
    return this;
  }

  /** The StepResult (schema-valid) answering one command record; throws InvalidCommand. */
  async process(value, { heartbeat = async () => {} } = {}) {
    let command;
    try {
      command = JSON.parse(value.toString('utf8'));
    } catch (err) {
      throw new InvalidCommand(`invalid JSON: ${err.message}`);
    }
    const problems = this.contracts.violations('step-command', command);
    if (problems.length) throw new InvalidCommand(problems.join('; '));
    let result = this.done.get(command.idempotencyKey) || (await this.runCommand(command, heartbeat));
    const wrong = this.contracts.violations('step-result', JSON.parse(JSON.stringify(result)));
    if (wrong.length) { // the output cannot be sent as it is: fail the step instead
      result = this.result(command, result.startedAt, { error: new FinalError('InvalidResult', wrong.join('; ')) });
    }
    if (result.ok || !result.error.retryable) {
      this.done.set(command.idempotencyKey, result);
      if (this.done.size > 10000) this.done.delete(this.done.keys().next().value);
    }
    return result;
  }

  async runCommand(command, heartbeat) {
    const startedAt = now();
    const entry = this.functions.get(command.function);
    try {
      if (!entry) throw new FinalError('UnknownFunction', `no function named '${command.function}'`);
      if (command.inputRef !== null && command.inputRef !== undefined) {
        throw new FinalError('UnsupportedInputRef', 'claim-check inputs are not supported');
      }
      if (command.deadline && Date.parse(command.deadline) <= Date.now()) {
        throw new RetryableError('StepTimeout', 'the step deadline passed before it started');
      }
      if (entry.validateInput && !entry.validateInput(command.input)) {
        const why = entry.validateInput.errors.map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
        throw new FinalError('InputValidationError', why);
      }
      const ctx = { command, idempotencyKey: command.idempotencyKey, attempt: command.attempt, deadline: command.deadline, heartbeat };
      const beat = setInterval(() => heartbeat().catch(() => {}), 3000); // long steps keep the partition
      let output;
      try {
        output = await entry.fn(command.input, ctx);
      } finally {
        clearInterval(beat);
      }
      return this.result(command, startedAt, { output: output === undefined ? null : output });
    } catch (err) {
      const failure = err instanceof StepFailure ? err : new RetryableError(err.constructor.name || 'Error', String(err.message || err));
      return this.result(command, startedAt, { error: failure });
    }
  }

  result(command, startedAt, { output = null, error = null }) {
    const finishedAt = now();
    return {
      schemaVersion: 1,
      messageId: newId(),
      executionId: command.executionId,
      occurredAt: finishedAt,
      commandId: command.commandId,
      stepId: command.stepId,
      attempt: command.attempt,
      ok: error === null,
      output: error === null ? output : null,
      error: error === null ? null : { type: error.type, message: error.message, retryable: error.retryable, details: error.details },
      workerId: this.workerId,
      startedAt,
      finishedAt,
      call: null,
      logs: null, // or [{at, level, logger, message}]: shown by `workflows logs`
    };
  }

  /** The dead letter (dead-letter.schema.json) of a record `process` refused. */
  deadLetter(topic, partition, offset, key, value, reason) {
    const buffer = value || Buffer.alloc(0);
    const text = buffer.toString('utf8');
    return {
      schemaVersion: 1,
      messageId: newId(),
      occurredAt: now(),
      sourceTopic: topic,
      partition,
      offset: Number(offset),
      key: key ? key.toString() : null,
      reason,
      errorType: 'invalid_command',
      originalB64: buffer.toString('base64'),
      originalText: Buffer.from(text, 'utf8').equals(buffer) ? text.slice(0, 65536) : null,
      service: this.workerId,
      executionId: null,
    };
  }

  /** Connect and serve every registered function; resolves once the consumers run. */
  async serve() {
    const { Kafka, logLevel } = require('kafkajs');
    const prefix = process.env.WORKFLOWS_TOPIC_PREFIX || '';
    const brokers = (process.env.WORKFLOWS_KAFKA_BOOTSTRAP || '127.0.0.1:9092').split(',');
    const partitions = Number(process.env.WORKFLOWS_PARTITIONS || 8);
    const kafka = new Kafka({ clientId: this.workerId, brokers, logLevel: logLevel.WARN });
    tracing.configure(process.env.WORKFLOWS_WORKER_SERVICE || 'workflows-node-worker'); // on with OTEL_EXPORTER_OTLP_ENDPOINT
    const keys = signingKeys();
    const results = `${prefix}wf.steps.results`;
    const dlq = `${prefix}wf.dlq`;
    const admin = kafka.admin();
    await admin.connect();
    const names = [...this.functions.keys()].sort();
    await admin.createTopics({ topics: names.map((name) => ({ topic: `${prefix}wf.fn.${name}`, numPartitions: partitions })) }).catch(() => {});
    await admin.disconnect();
    // Idempotent only on a replicated broker, like the engine's services
    // (WORKFLOWS_REPLICATION_FACTOR > 1): the embedded dev broker (Tansu) refuses InitProducerId.
    const idempotent = Number(process.env.WORKFLOWS_REPLICATION_FACTOR || 1) > 1;
    this.producer = kafka.producer({ idempotent });
    await this.producer.connect();
    for (const name of names) {
      const topic = `${prefix}wf.fn.${name}`;
      const consumer = kafka.consumer({ groupId: `${prefix}wf-worker-${name}` });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ topic: from, partition, message, heartbeat }) => {
          let out;
          try {
            const unsigned = signatureProblem(keys, message.value || Buffer.alloc(0), message.headers);
            if (unsigned) throw new InvalidCommand(unsigned);
            const span = tracing.attemptSpan(message.headers, message.value || Buffer.alloc(0));
            const result = await this.process(message.value || Buffer.alloc(0), { heartbeat });
            const trace = tracing.endAttempt(span, result); // {traceparent, tracestate} or {}
            out = { topic: results, messages: [{ key: result.executionId, value: JSON.stringify(result), headers: trace }] };
            log('step_done', { executionId: result.executionId, stepId: result.stepId, ok: result.ok });
          } catch (err) {
            if (!(err instanceof InvalidCommand)) throw err;
            const letter = this.deadLetter(from, partition, message.offset, message.key, message.value, err.message);
            out = { topic: dlq, messages: [{ key: message.key, value: JSON.stringify(letter) }] };
            log('command_dead_lettered', { offset: message.offset, reason: err.message });
          }
          if (keys.length) {
            for (const m of out.messages) m.headers = { ...m.headers, 'wf-signature': signature(keys[0], m.value) };
          }
          await this.producer.send({ acks: -1, ...out });
          await consumer.commitOffsets([{ topic: from, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
        },
      });
      this.consumers.push(consumer);
      log('worker_started', { function: name, topic, workerId: this.workerId });
    }
  }

  /** Stop fetching, finish and answer the message being processed, leave the groups. */
  async stop() {
    for (const consumer of this.consumers) await consumer.disconnect(); // waits for eachMessage
    if (this.producer) await this.producer.disconnect();
    await tracing.shutdown().catch(() => {}); // the spans still queued
    log('worker_drained', { workerId: this.workerId });
  }

  /** serve() until SIGTERM/SIGINT, then drain and exit 0. */
  run() {
    let stopping = null;
    const drain = () => {
      stopping = stopping || this.stop().then(() => process.exit(0), (err) => {
        console.error(err);
        process.exit(1);
      });
    };
    process.on('SIGTERM', drain);
    process.on('SIGINT', drain);
    this.serve().catch((err) => {
      console.error(err);
      process.exit(1);
    });
  }
}

function log(event, fields) {
  console.log(JSON.stringify({ event, ...fields }));
}

module.exports = {
  Contracts, Worker, StepFailure, RetryableError, FinalError, InvalidCommand, signature, signatureProblem,
  COMMAND_FIELDS, RESULT_FIELDS, ERROR_FIELDS, DEAD_LETTER_FIELDS,
};
