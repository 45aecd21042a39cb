package dev.workflows.worker;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.function.Supplier;

/**
 * A Workflows function worker: register functions by name with a typed input, then
 * {@link #run}. For each function it consumes {@code <prefix>wf.fn.<function>} in the consumer
 * group {@code <prefix>wf-worker-<function>}, validates every command against
 * step-command.schema.json, calls the function, validates and publishes the StepResult to
 * {@code <prefix>wf.steps.results} (keyed by execution id: the client's murmur2 partitioner)
 * and commits the offset once the broker has the result (at-least-once). Records that are
 * not valid commands go to {@code <prefix>wf.dlq}. {@link #stop} (SIGTERM) drains: commands
 * already fetched are finished and answered, then the group is left.
 */
public final class Worker {
  /** What {@link #process} made of one record: a result to publish, or why it is refused. */
  public record Processed(Result result, byte[] value, String invalidReason) {}

  private record Registered<I>(Class<I> inputType, StepFunction<I, ?> function) {}

  final ObjectMapper mapper = new ObjectMapper()
      .registerModule(new JavaTimeModule())
      .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
      .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .disable(DeserializationFeature.ADJUST_DATES_TO_CONTEXT_TIME_ZONE);
  private final Contracts contracts;
  private final String workerId;
  private final Map<String, Registered<?>> functions = new TreeMap<>();
  private final Map<String, Result> done = new ConcurrentHashMap<>(); // keep it durable in production
  private final List<KafkaLoop> loops = new ArrayList<>();
  private final CountDownLatch stopped = new CountDownLatch(1);
  Supplier<Instant> clock = () -> Instant.now().truncatedTo(ChronoUnit.MICROS);

  public Worker(Contracts contracts, String workerId) {
    this.contracts = contracts;
    this.workerId = workerId;
  }

  /** A worker with the contracts found by {@link Contracts#find()} and a generated id. */
  public static Worker create() {
    String id = System.getenv("WORKFLOWS_WORKER_ID");
    if (id == null || id.isEmpty()) {
      id = "java-" + hostname() + "-" + ProcessHandle.current().pid();
    }
    return new Worker(Contracts.find(), id);
  }

  public Contracts contracts() { return contracts; }

  public String workerId() { return workerId; }

  public ObjectMapper mapper() { return mapper; }

  /** Serve function {@code name}: its input is bound to {@code inputType} (Jackson). */
  public <I> Worker register(String name, Class<I> inputType, StepFunction<I, ?> function) {
    functions.put(name, new Registered<>(inputType, function));
    return this;
  }

  public List<String> functions() { return List.copyOf(functions.keySet()); }

  /** Validate, decode and run one command record; the encoded result is schema-valid. */
  public Processed process(byte[] value) {
    JsonNode tree;
    try {
      tree = mapper.readTree(value);
    } catch (Exception e) {
      return new Processed(null, null, "invalid JSON: " + e.getMessage());
    }
    List<String> violations = tree == null ? List.of("empty record") : contracts.violations(Contracts.STEP_COMMAND, tree);
    if (!violations.isEmpty()) {
      return new Processed(null, null, String.join("; ", violations));
    }
    Command command;
    try {
      command = mapper.treeToValue(tree, Command.class);
    } catch (Exception e) {
      return new Processed(null, null, e.getMessage());
    }
    Result cached = done.get(command.idempotencyKey());
    Result result = cached != null ? cached : run(command);
    byte[] encoded;
    try {
      encoded = mapper.writeValueAsBytes(result);
      List<String> wrong = contracts.violations(Contracts.STEP_RESULT, mapper.readTree(encoded));
      if (!wrong.isEmpty()) {
        throw new IllegalStateException(String.join("; ", wrong));
      }
    } catch (Exception e) { // the output cannot be sent as it is: fail the step instead
      result = failed(command, result.startedAt(), new StepError("InvalidResult", String.valueOf(e.getMessage()), false, null));
      try {
        encoded = mapper.writeValueAsBytes(result);
      } catch (Exception again) {
        throw new IllegalStateException(again);
      }
    }
    if (cached == null && (result.ok() || !result.error().retryable())) {
      if (done.size() > 10_000) {
        done.clear();
      }
      done.put(command.idempotencyKey(), result);
    }
    return new Processed(result, encoded, null);
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private Result run(Command command) {
    Instant started = clock.get();
    Registered registered = functions.get(command.function());
    if (registered == null) {
      return failed(command, started, new StepError("UnknownFunction", "no function named '" + command.function() + "'", false, null));
    }
    if (command.inputRef() != null) {
      return failed(command, started, new StepError("UnsupportedInputRef", "claim-check inputs are not supported", false, null));
    }
    if (command.deadline() != null && !started.isBefore(command.deadline())) {
      return failed(command, started, new StepError("StepTimeout", "the step deadline passed before it started", true, null));
    }
    Object input;
    try {
      input = mapper.treeToValue(command.input(), registered.inputType());
    } catch (Exception e) {
      return failed(command, started, new StepError("InputValidationError",
          e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : String.valueOf(e.getMessage()), false, null));
    }
    try {
      Object output = registered.function().apply(input, new StepContext(command));
      JsonNode tree = mapper.valueToTree(output);
      return envelope(command, started, true, tree, null);
    } catch (StepFailure failure) {
      return failed(command, started, failure.toError());
    } catch (Exception e) {
      return failed(command, started, new StepError(e.getClass().getSimpleName(), String.valueOf(e.getMessage()), true, null));
    }
  }

  private Result failed(Command command, Instant started, StepError error) {
    return envelope(command, started, false, null, error);
  }

  private Result envelope(Command c, Instant started, boolean ok, JsonNode output, StepError error) {
    Instant finished = clock.get();
    return new Result(1, newId(), c.executionId(), finished, c.commandId(), c.stepId(), c.attempt(),
        ok, output, error, workerId, started, finished, null, null);
  }

  /** The dead letter (dead-letter.schema.json) of a record refused by {@link #process}. */
  public byte[] deadLetter(String topic, int partition, long offset, byte[] key, byte[] value, String reason) {
    String text = null;
    try {
      text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(value)).toString();
      if (text.length() > 65536) {
        text = text.substring(0, 65536);
      }
    } catch (CharacterCodingException e) {
      // not text: originalB64 alone
    }
    DeadLetter letter = new DeadLetter(1, newId(), clock.get(), topic, partition, offset,
        key == null ? null : new String(key, StandardCharsets.UTF_8), reason, "invalid_command",
        Base64.getEncoder().encodeToString(value), text, workerId, null);
    try {
      return mapper.writeValueAsBytes(letter);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** Serve every registered function until {@link #stop}; returns once drained. */
  public void run(WorkerConfig config) throws InterruptedException {
    if (functions.isEmpty()) {
      throw new IllegalStateException("no function registered");
    }
    Tracing.configure(System.getenv(), "workflows-java-worker"); // on with OTEL_EXPORTER_OTLP_ENDPOINT
    List<Thread> threads = new ArrayList<>();
    synchronized (loops) {
      for (String function : functions.keySet()) {
        KafkaLoop loop = new KafkaLoop(this, config, function);
        loops.add(loop);
        Thread thread = new Thread(loop, "wf-worker-" + function);
        thread.start();
        threads.add(thread);
      }
    }
    for (Thread thread : threads) {
      thread.join();
    }
    Tracing.shutdown(); // the spans still queued
    stopped.countDown();
  }

  /** Stop fetching, finish and answer the commands already fetched, leave the groups. */
  public void stop() {
    synchronized (loops) {
      loops.forEach(KafkaLoop::stop);
    }
  }

  /** Drain on SIGTERM and SIGINT (then {@link #run} returns and the process exits 0). */
  public Worker stopOnSignals() {
    for (String name : List.of("TERM", "INT")) {
      sun.misc.Signal.handle(new sun.misc.Signal(name), signal -> stop());
    }
    return this;
  }

  static String newId() { return UUID.randomUUID().toString().replace("-", ""); }

  private static String hostname() {
    try {
      return java.net.InetAddress.getLocalHost().getHostName();
    } catch (Exception e) {
      return "localhost";
    }
  }
}
