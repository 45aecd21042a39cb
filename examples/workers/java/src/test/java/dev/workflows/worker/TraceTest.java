package dev.workflows.worker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;

class TraceTest {
  private static final String PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

  @Test
  void theResultTakesTheCommandsTraceContextBack() {
    RecordHeaders command = new RecordHeaders();
    command.add("wf-signature", "v1=ab".getBytes(StandardCharsets.UTF_8));
    command.add("traceparent", PARENT.getBytes(StandardCharsets.UTF_8));
    command.add("tracestate", "a=1,b=2".getBytes(StandardCharsets.UTF_8));
    RecordHeaders result = new RecordHeaders();
    KafkaLoop.continueTrace(command, result);
    assertArrayEquals(PARENT.getBytes(StandardCharsets.UTF_8), result.lastHeader("traceparent").value());
    assertArrayEquals("a=1,b=2".getBytes(StandardCharsets.UTF_8), result.lastHeader("tracestate").value());
    assertNull(result.lastHeader("wf-signature"));
  }

  @Test
  void aCommandWithoutATraceGivesAResultWithout() {
    RecordHeaders result = new RecordHeaders();
    KafkaLoop.continueTrace(new RecordHeaders(), result);
    assertNull(result.lastHeader("traceparent"));
  }
}
