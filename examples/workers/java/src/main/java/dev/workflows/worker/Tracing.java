package dev.workflows.worker;

import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.propagation.TextMapGetter;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/**
 * OpenTelemetry traces, on only when {@code OTEL_EXPORTER_OTLP_ENDPOINT} (or
 * {@code OTEL_EXPORTER_OTLP_TRACES_ENDPOINT}) is set: each command record's
 * {@code traceparent}/{@code tracestate} headers (the execution's W3C trace context, put there by
 * the engine) are the parent of one span per attempt, {@code step <id> attempt <n>}, exported over
 * OTLP/HTTP (the JDK's HttpClient); the result record carries that span's context back. Off, the
 * command's trace headers go back unchanged, so the trace still continues through this worker.
 */
final class Tracing {
  /** The W3C trace context headers a command brings and its result takes back. */
  static final String[] TRACE_HEADERS = {"traceparent", "tracestate"};

  private static final W3CTraceContextPropagator PROPAGATOR = W3CTraceContextPropagator.getInstance();
  private static final TextMapGetter<Headers> GETTER = new TextMapGetter<>() {
    @Override
    public Iterable<String> keys(Headers carrier) {
      List<String> keys = new ArrayList<>();
      carrier.forEach(h -> keys.add(h.key()));
      return keys;
    }

    @Override
    public String get(Headers carrier, String key) {
      Header header = carrier == null ? null : carrier.lastHeader(key);
      return header == null || header.value() == null ? null
          : new String(header.value(), StandardCharsets.UTF_8);
    }
  };
  private static SdkTracerProvider provider;
  private static volatile Tracer tracer;

  private Tracing() {}

  /** Export spans as {@code service} ({@code OTEL_SERVICE_NAME} wins) when {@code env} names an
   * OTLP endpoint; true when on. Idempotent. */
  static synchronized boolean configure(Map<String, String> env, String service) {
    if (tracer != null) {
      return true;
    }
    String traces = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    String base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT");
    if ((traces == null || traces.isEmpty()) && (base == null || base.isEmpty())) {
      return false;
    }
    String endpoint = traces != null && !traces.isEmpty() ? traces
        : base.replaceAll("/+$", "") + "/v1/traces";
    String delay = env.getOrDefault("OTEL_BSP_SCHEDULE_DELAY", "5000");
    String name = env.getOrDefault("OTEL_SERVICE_NAME", service);
    BatchSpanProcessor batch = BatchSpanProcessor.builder(
            OtlpHttpSpanExporter.builder().setEndpoint(endpoint).build())
        .setScheduleDelay(Duration.ofMillis(Long.parseLong(delay.trim())))
        .build();
    install(SdkTracerProvider.builder()
        .setResource(Resource.getDefault().merge(
            Resource.create(Attributes.of(io.opentelemetry.api.common.AttributeKey.stringKey("service.name"), name))))
        .addSpanProcessor(batch)
        .build());
    return true;
  }

  /** Use {@code sdk} for the attempts' spans (tests: an in-memory exporter). */
  static synchronized void install(SdkTracerProvider sdk) {
    provider = sdk;
    tracer = sdk == null ? null : sdk.get("workflows-java-worker");
  }

  /** Export the spans still queued (a draining worker). */
  static synchronized void shutdown() {
    if (provider != null) {
      provider.shutdown().join(10, java.util.concurrent.TimeUnit.SECONDS);
    }
  }

  /** The started span of the attempt a command record holds (named by {@link #endAttempt}),
   * child of the record's trace headers; null with tracing off. */
  static Span startAttempt(Headers command) {
    Tracer current = tracer;
    if (current == null) {
      return null;
    }
    Context parent = PROPAGATOR.extract(Context.root(), command, GETTER);
    return current.spanBuilder("step attempt").setParent(parent).setSpanKind(SpanKind.CONSUMER).startSpan();
  }

  /** Name and end the attempt's span with the result's outcome, and put the result record's
   * trace headers on {@code result}: the span's context, or (tracing off) the command's own. */
  static void endAttempt(Span span, Headers command, Headers result, Result outcome, String function) {
    if (span == null) {
      continueTrace(command, result);
      return;
    }
    span.updateName("step " + outcome.stepId() + " attempt " + outcome.attempt());
    span.setAttribute("execution.id", outcome.executionId());
    span.setAttribute("step.id", outcome.stepId());
    span.setAttribute("step.attempt", (long) outcome.attempt());
    span.setAttribute("step.function", function);
    if (!outcome.ok() && outcome.error() != null) {
      span.setStatus(StatusCode.ERROR, outcome.error().message());
    }
    Map<String, String> carrier = new HashMap<>();
    PROPAGATOR.inject(Context.root().with(span), carrier, Map::put);
    span.end();
    for (String key : TRACE_HEADERS) {
      String value = carrier.get(key);
      if (value != null && !value.isEmpty()) {
        result.add(key, value.getBytes(StandardCharsets.UTF_8));
      }
    }
  }

  /** Copy the command's {@code traceparent}/{@code tracestate} headers onto its result. */
  static void continueTrace(Headers command, Headers result) {
    for (String key : TRACE_HEADERS) {
      Header header = command.lastHeader(key);
      if (header != null && header.value() != null) {
        result.add(key, header.value());
      }
    }
  }
}
