package dev.workflows.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.workflows.worker.example.EmailWorker;
import java.io.IOException;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** contracts/golden/ (generated from the engine's models) against this SDK: `mvn -q test`. */
class GoldenTest {
  private final Contracts contracts = Contracts.find();
  private final Worker worker = new Worker(contracts, "java-golden");

  private JsonNode golden(String name) throws IOException {
    return worker.mapper().readTree(contracts.dir().resolve("golden").resolve(name).toFile());
  }

  private byte[] goldenBytes(String name) throws IOException {
    return java.nio.file.Files.readAllBytes(contracts.dir().resolve("golden").resolve(name));
  }

  private static Set<String> components(Class<? extends Record> type) {
    return Arrays.stream(type.getRecordComponents()).map(c -> c.getName()).collect(Collectors.toCollection(TreeSet::new));
  }

  @Test
  void sdkKnowsEveryFieldOfTheContract() {
    Map<String, Set<String>> mismatches = new java.util.TreeMap<>();
    check(mismatches, "Command", Command.class, contracts.properties(Contracts.STEP_COMMAND, null));
    check(mismatches, "Result", Result.class, contracts.properties(Contracts.STEP_RESULT, null));
    check(mismatches, "StepError", StepError.class, contracts.properties(Contracts.STEP_RESULT, "StepError"));
    check(mismatches, "DeadLetter", DeadLetter.class, contracts.properties(Contracts.DEAD_LETTER, null));
    assertTrue(mismatches.isEmpty(), "the Java SDK's records differ from the schemas (field: only in schema + / only in SDK -): "
        + mismatches + "; teach the Java SDK the contract change");
  }

  private static void check(Map<String, Set<String>> out, String what, Class<? extends Record> type, Set<String> schema) {
    Set<String> sdk = components(type);
    Set<String> diff = new TreeSet<>();
    schema.stream().filter(f -> !sdk.contains(f)).forEach(f -> diff.add("+" + f));
    sdk.stream().filter(f -> !schema.contains(f)).forEach(f -> diff.add("-" + f));
    if (!diff.isEmpty()) {
      out.put(what, diff);
    }
  }

  @Test
  void goldenCommandDecodesAndRoundTrips() throws Exception {
    JsonNode command = golden(golden("cases.json").get("command").asText());
    assertEquals(java.util.List.of(), contracts.violations(Contracts.STEP_COMMAND, command));
    Command decoded = worker.mapper().treeToValue(command, Command.class);
    assertEquals(command, worker.mapper().valueToTree(decoded), "the command does not survive the Java SDK's Command record");
  }

  @TestFactory
  Stream<DynamicTest> goldenCases() throws IOException {
    JsonNode manifest = golden("cases.json");
    byte[] command = goldenBytes(manifest.get("command").asText());
    assertFalse(manifest.get("cases").isEmpty(), "no golden cases");
    return java.util.stream.StreamSupport.stream(manifest.get("cases").spliterator(), false).map(c -> DynamicTest.dynamicTest(c.get("name").asText(), () -> {
      JsonNode does = c.get("function");
      Worker w = new Worker(contracts, "java-golden");
      w.register("sendPersonalizedEmail", JsonNode.class, (input, ctx) -> {
        assertNotNull(ctx.idempotencyKey());
        JsonNode raises = does.get("raises");
        if (raises != null) {
          Map<String, Object> details = raises.get("details").isNull() ? null : w.mapper().convertValue(raises.get("details"), Map.class);
          String type = raises.get("type").asText();
          String message = raises.get("message").asText();
          throw raises.get("retryable").asBoolean() ? new RetryableError(type, message, details) : new FinalError(type, message, details);
        }
        return does.get("returns");
      });
      Worker.Processed out = w.process(command);
      assertNull(out.invalidReason());
      JsonNode got = w.mapper().readTree(out.value());
      assertEquals(java.util.List.of(), contracts.violations(Contracts.STEP_RESULT, got));
      ObjectNode want = (ObjectNode) golden(c.get("result").asText());
      for (JsonNode field : manifest.get("sdkFills")) {
        assertFalse(got.path(field.asText()).isNull() || got.path(field.asText()).isMissingNode(), "the SDK must fill " + field);
        ((ObjectNode) got).remove(field.asText());
        want.remove(field.asText());
      }
      assertEquals(want, got, c.get("name").asText() + " result differs from golden/" + c.get("result").asText());
    }));
  }

  @Test
  void invalidCommandIsDeadLettered() throws Exception {
    byte[] value = "{\"executionId\": \"ex-1\"}".getBytes();
    Worker.Processed out = worker.process(value);
    assertNotNull(out.invalidReason());
    assertTrue(out.invalidReason().contains("commandId"), out.invalidReason());
    JsonNode letter = worker.mapper().readTree(worker.deadLetter("wf.fn.x", 0, 7L, "ex-1".getBytes(), value, out.invalidReason()));
    assertEquals(java.util.List.of(), contracts.violations(Contracts.DEAD_LETTER, letter));
  }

  @Test
  void exampleAnswersTheGoldenCommandLikeTheGoldenOkResult() throws Exception {
    Worker w = new Worker(contracts, "java-golden").register("sendPersonalizedEmail", EmailWorker.EmailInput.class, EmailWorker::sendPersonalizedEmail);
    Worker.Processed out = w.process(goldenBytes("step-command.json"));
    ObjectNode want = (ObjectNode) golden("step-result-ok.json").get("output");
    want.put("sentBy", "java");
    assertEquals(want, w.mapper().readTree(out.value()).get("output"));
  }


  @Test
  void goldenSignature() throws Exception {
    JsonNode signing = golden("cases.json").get("signing");
    byte[] key = signing.get("key").asText().getBytes(java.nio.charset.StandardCharsets.UTF_8);
    byte[] value = goldenBytes(signing.get("value").asText());
    String expected = signing.get("signature").asText();
    assertEquals(expected, Signing.signature(key, value));
    org.apache.kafka.common.header.internals.RecordHeaders headers = new org.apache.kafka.common.header.internals.RecordHeaders();
    headers.add(Signing.HEADER, expected.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    assertNull(Signing.problem(List.of(key), value, headers));
    assertTrue(Signing.problem(List.of("other".getBytes()), value, headers).contains("does not match"));
    assertTrue(Signing.problem(List.of(key), value, new org.apache.kafka.common.header.internals.RecordHeaders()).contains("no wf-signature"));
  }
}
