package dev.workflows.worker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class TraceTest {
  // flags 03: the Python SDK sets W3C Level 2's random-trace-id bit
  private static final String PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03";

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static Result result(boolean ok) {
    return new Result(1, "m", "e1", null, "e1:welcomeEmail:2", "welcomeEmail", 2, ok, null,
        ok ? null : new StepError("Boom", "boom", true, null), "w", null, null, null, null);
  }

  @AfterEach
  void off() {
    Tracing.install(null);
  }

  @Test
  void offTheResultTakesTheCommandsTraceContextBack() {
    RecordHeaders command = new RecordHeaders();
    command.add("wf-signature", bytes("v1=ab"));
    command.add("traceparent", bytes(PARENT));
    command.add("tracestate", bytes("a=1,b=2"));
    RecordHeaders out = new RecordHeaders();
    assertNull(Tracing.startAttempt(command));
    Tracing.endAttempt(null, command, out, result(true), "f");
    assertArrayEquals(bytes(PARENT), out.lastHeader("traceparent").value());
    assertArrayEquals(bytes("a=1,b=2"), out.lastHeader("tracestate").value());
    assertNull(out.lastHeader("wf-signature"));
    RecordHeaders none = new RecordHeaders();
    Tracing.endAttempt(null, new RecordHeaders(), none, result(true), "f");
    assertNull(none.lastHeader("traceparent"));
  }

  @Test
  void onTheAttemptIsAChildSpanOfTheCommandsTrace() {
    InMemorySpanExporter spans = InMemorySpanExporter.create();
    Tracing.install(SdkTracerProvider.builder().addSpanProcessor(SimpleSpanProcessor.create(spans)).build());
    RecordHeaders command = new RecordHeaders();
    command.add("traceparent", bytes(PARENT));
    RecordHeaders out = new RecordHeaders();
    Tracing.endAttempt(Tracing.startAttempt(command), command, out, result(false), "sendPersonalizedEmail");
    List<SpanData> ended = spans.getFinishedSpanItems();
    assertEquals(1, ended.size());
    SpanData span = ended.get(0);
    assertEquals("step welcomeEmail attempt 2", span.getName());
    assertEquals("4bf92f3577b34da6a3ce929d0e0e4736", span.getTraceId());
    assertEquals("00f067aa0ba902b7", span.getParentSpanId());
    assertEquals(StatusCode.ERROR, span.getStatus().getStatusCode());
    String traceparent = new String(out.lastHeader("traceparent").value(), StandardCharsets.UTF_8);
    assertTrue(traceparent.startsWith("00-4bf92f3577b34da6a3ce929d0e0e4736-" + span.getSpanId()), traceparent);
  }

  @Test
  void withoutAnEndpointTracingStaysOff() {
    assertEquals(false, Tracing.configure(Map.of(), "x"));
  }
}
