'use strict';
// OpenTelemetry traces for the worker, on only when OTEL_EXPORTER_OTLP_ENDPOINT is set:
// each command's `traceparent`/`tracestate` record headers (the execution's W3C trace
// context, put there by the engine) become the parent of one span per step attempt, and the
// result record carries that span's context back.

const api = require('@opentelemetry/api');
const { W3CTraceContextPropagator } = require('@opentelemetry/core');

const propagator = new W3CTraceContextPropagator();
const headerGetter = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    return value === undefined || value === null ? undefined : value.toString();
  },
};

let provider = null;

/** Start exporting spans as `serviceName` when an OTLP endpoint is configured; true when on. */
function configure(serviceName) {
  if (provider) return true;
  if (!process.env.OTEL_EXPORTER_OTLP_ENDPOINT && !process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return false;
  const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
  const { resourceFromAttributes } = require('@opentelemetry/resources');
  provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME || serviceName }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  api.trace.setGlobalTracerProvider(provider);
  return true;
}

/** The started span of the step attempt a command record holds, child of the record's trace
 * headers; null when tracing is off or the record is not a command. */
function attemptSpan(headers, value) {
  if (!provider) return null;
  let command;
  try {
    command = JSON.parse(value.toString('utf8'));
  } catch {
    return null;
  }
  if (!command || typeof command !== 'object') return null;
  const parent = propagator.extract(api.ROOT_CONTEXT, headers || {}, headerGetter);
  return api.trace.getTracer('workflows-node-worker').startSpan(
    `step ${command.stepId} attempt ${command.attempt}`,
    {
      kind: api.SpanKind.CONSUMER,
      attributes: {
        'execution.id': command.executionId,
        'step.id': command.stepId,
        'step.attempt': command.attempt,
        'step.function': command.function,
      },
    },
    parent,
  );
}

/** End `span` with the result's outcome; its trace headers for the result record. */
function endAttempt(span, result) {
  if (!span) return {};
  if (!result.ok) span.setStatus({ code: api.SpanStatusCode.ERROR, message: result.error.message });
  const carrier = {};
  propagator.inject(api.trace.setSpan(api.ROOT_CONTEXT, span), carrier, api.defaultTextMapSetter);
  span.end();
  return carrier;
}

/** Export the spans still queued. */
async function shutdown() {
  if (provider) await provider.shutdown();
}

module.exports = { configure, attemptSpan, endAttempt, shutdown };
