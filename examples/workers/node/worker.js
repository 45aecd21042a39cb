// Serves the seed workflow's sendPersonalizedEmail with the Node.js SDK (lib/workflows-worker.js):
//   WORKFLOWS_KAFKA_BOOTSTRAP=127.0.0.1:9092 node examples/workers/node/worker.js
'use strict';

const crypto = require('crypto');
const { Worker, FinalError } = require('./lib/workflows-worker');

/** The step's input in the seed definition (examples/customer_onboarding.yaml). */
const EmailInput = {
  type: 'object',
  properties: {
    to: { type: 'string' },
    template: { type: 'string' },
    variables: { type: 'object', additionalProperties: { type: 'string' } },
  },
  required: ['to', 'template'],
};

/**
 * Pretend to send the e-mail; the message id derives from the idempotency key (sent once).
 * @param {{to: string, template: string, variables?: Record<string, string>}} input
 * @returns {{messageId: string, to: string, template: string, sentBy: string}}
 */
function sendPersonalizedEmail(input, ctx) {
  if (!input.to.includes('@')) {
    throw new FinalError('InvalidRecipient', `input.to must be an e-mail address, got ${JSON.stringify(input.to)}`, { field: 'to' });
  }
  const messageId = crypto.createHash('sha256').update(ctx.idempotencyKey).digest('hex').slice(0, 16);
  return { messageId, to: input.to, template: input.template, sentBy: 'node' };
}

function worker(options) {
  return new Worker(options).register('sendPersonalizedEmail', sendPersonalizedEmail, { input: EmailInput });
}

module.exports = { sendPersonalizedEmail, worker };

if (require.main === module) worker().run();
