// A Workflows function worker in Node.js (kafkajs). It relies only on the message
// contracts in contracts/schemas/ (step-command, step-result, dead-letter):
//   1. consume  <prefix>wf.fn.<function>   in a consumer group (one group per function)
//   2. run the function for the command's `input`
//   3. publish a StepResult to <prefix>wf.steps.results, keyed by the execution id
// Errors: `retryable: true` asks the orchestrator to retry with backoff, `false` is final.
// Idempotency: a command can be delivered twice; results are remembered per
// `idempotencyKey` and sent again instead of re-running the side effect (a real worker
// keeps this memory in a durable store, e.g. Redis or its own database).
'use strict';

// kafkajs 2's default partitioner is the Java client's murmur2, like aiokafka's, so a
// result keyed by execution id lands on the same partition as the rest of that execution.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

const crypto = require('crypto');
const os = require('os');
const { Kafka, logLevel } = require('kafkajs');

const BOOTSTRAP = (process.env.WORKFLOWS_KAFKA_BOOTSTRAP || '127.0.0.1:9092').split(',');
const PREFIX = process.env.WORKFLOWS_TOPIC_PREFIX || '';
const FUNCTION = 'sendPersonalizedEmail';
const COMMANDS = `${PREFIX}wf.fn.${FUNCTION}`;
const RESULTS = `${PREFIX}wf.steps.results`;
const DLQ = `${PREFIX}wf.dlq`;
const WORKER_ID = `node-${os.hostname()}-${process.pid}`;

class FinalError extends Error {}

// The function itself: same contract as examples/onboarding_functions.py.
function sendPersonalizedEmail(input, command) {
  if (!input || typeof input.to !== 'string' || !input.to.includes('@')) {
    throw new FinalError(`input.to must be an e-mail address, got ${JSON.stringify(input && input.to)}`);
  }
  const messageId = crypto.createHash('sha256').update(command.idempotencyKey).digest('hex').slice(0, 16);
  return { messageId, to: input.to, template: input.template, sentBy: 'node' };
}

const done = new Map(); // idempotencyKey -> result (see the note above)

function result(command, startedAt, outcome) {
  return {
    schemaVersion: 1,
    messageId: crypto.randomUUID().replace(/-/g, ''),
    executionId: command.executionId,
    occurredAt: new Date().toISOString(),
    commandId: command.commandId,
    stepId: command.stepId,
    attempt: command.attempt,
    workerId: WORKER_ID,
    startedAt,
    finishedAt: new Date().toISOString(),
    ...outcome,
  };
}

function run(command) {
  const startedAt = new Date().toISOString();
  try {
    const output = sendPersonalizedEmail(command.input, command);
    return result(command, startedAt, { ok: true, output, error: null });
  } catch (err) {
    const retryable = !(err instanceof FinalError);
    const error = { type: err.constructor.name, message: String(err.message), retryable };
    return result(command, startedAt, { ok: false, output: null, error });
  }
}

function deadLetter(message, reason) {
  return {
    schemaVersion: 1,
    messageId: crypto.randomUUID().replace(/-/g, ''),
    occurredAt: new Date().toISOString(),
    sourceTopic: COMMANDS,
    partition: message.partition,
    offset: Number(message.offset),
    key: message.key ? message.key.toString() : null,
    reason,
    errorType: 'invalid_command',
    originalB64: (message.value || Buffer.alloc(0)).toString('base64'),
    originalText: message.value ? message.value.toString('utf8').slice(0, 65536) : null,
    service: WORKER_ID,
    executionId: null,
  };
}

async function main() {
  const kafka = new Kafka({ clientId: WORKER_ID, brokers: BOOTSTRAP, logLevel: logLevel.WARN });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: COMMANDS }, { topic: RESULTS }, { topic: DLQ }] }).catch(() => {});
  await admin.disconnect();

  const producer = kafka.producer();
  await producer.connect();
  const consumer = kafka.consumer({ groupId: `${PREFIX}wf-worker-node-${FUNCTION}` });
  await consumer.connect();
  await consumer.subscribe({ topic: COMMANDS, fromBeginning: true });

  await consumer.run({
    eachMessage: async ({ message, heartbeat }) => {
      let command;
      try {
        command = JSON.parse(message.value.toString('utf8'));
        for (const field of ['executionId', 'commandId', 'stepId', 'attempt', 'idempotencyKey']) {
          if (command[field] === undefined) throw new Error(`${field}: Field required`);
        }
      } catch (err) {
        await producer.send({ topic: DLQ, acks: -1, messages: [{ key: message.key, value: JSON.stringify(deadLetter(message, String(err.message))) }] });
        return;
      }
      let reply = done.get(command.idempotencyKey);
      if (!reply) {
        reply = run(command);
        if (reply.ok || !reply.error.retryable) done.set(command.idempotencyKey, reply);
      }
      await heartbeat(); // long steps call heartbeat() periodically to keep the partition
      await producer.send({ topic: RESULTS, acks: -1, messages: [{ key: command.executionId, value: JSON.stringify(reply) }] });
      console.log(JSON.stringify({ event: 'step_done', executionId: command.executionId, stepId: command.stepId, ok: reply.ok }));
    },
  });
  console.log(JSON.stringify({ event: 'worker_started', function: FUNCTION, topic: COMMANDS, workerId: WORKER_ID }));

  const stop = async () => {
    await consumer.disconnect();
    await producer.disconnect();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
