package dev.workflows.worker;

import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/** One function's consumer loop (one consumer group per function, as the protocol says). */
final class KafkaLoop implements Runnable {
  private final Worker worker;
  private final WorkerConfig config;
  private final String function;
  private final String commands;
  private final String results;
  private final String dlq;
  private final List<byte[]> signingKeys = Signing.keysFromEnv();
  private volatile boolean running = true;
  private final ExecutorService executor = Executors.newSingleThreadExecutor(r -> {
    Thread t = new Thread(r, "wf-step");
    t.setDaemon(true);
    return t;
  });

  KafkaLoop(Worker worker, WorkerConfig config, String function) {
    this.worker = worker;
    this.config = config;
    this.function = function;
    this.commands = config.topicPrefix() + "wf.fn." + function;
    this.results = config.topicPrefix() + "wf.steps.results";
    this.dlq = config.topicPrefix() + "wf.dlq";
  }

  void stop() { running = false; }

  @Override
  public void run() {
    createTopic();
    Properties c = new Properties();
    c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrap());
    c.put(ConsumerConfig.GROUP_ID_CONFIG, config.topicPrefix() + "wf-worker-" + function);
    c.put(ConsumerConfig.CLIENT_ID_CONFIG, worker.workerId());
    c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "50");
    c.put(ConsumerConfig.METADATA_MAX_AGE_CONFIG, "5000");
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrap());
    p.put(ProducerConfig.CLIENT_ID_CONFIG, worker.workerId() + "-results");
    p.put(ProducerConfig.ACKS_CONFIG, "all"); // default partitioner: murmur2 of the key
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(c, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
      consumer.subscribe(List.of(commands));
      log("worker_started", "\"topic\":\"" + commands + "\"");
      while (running) {
        ConsumerRecords<byte[], byte[]> batch = consumer.poll(Duration.ofMillis(200));
        for (ConsumerRecord<byte[], byte[]> record : batch) { // drained even after stop()
          TopicPartition tp = new TopicPartition(record.topic(), record.partition());
          if (!consumer.assignment().contains(tp)) {
            continue; // moved to another member during a long step: it redoes this record
          }
          answer(consumer, producer, record);
          try {
            consumer.commitSync(Map.of(tp, new OffsetAndMetadata(record.offset() + 1)));
          } catch (CommitFailedException e) {
            log("commit_refused", "\"offset\":" + record.offset()); // at-least-once: redelivered
          }
        }
      }
      log("worker_drained", "\"topic\":\"" + commands + "\"");
    } catch (Exception e) {
      e.printStackTrace();
      throw new IllegalStateException(e);
    } finally {
      executor.shutdownNow();
    }
  }

  private void answer(KafkaConsumer<byte[], byte[]> consumer, KafkaProducer<byte[], byte[]> producer,
      ConsumerRecord<byte[], byte[]> record) throws Exception {
    byte[] value = record.value() == null ? new byte[0] : record.value();
    String unsigned = Signing.problem(signingKeys, value, record.headers());
    io.opentelemetry.api.trace.Span span = Tracing.startAttempt(record.headers());
    Worker.Processed out;
    try {
      out = unsigned == null ? runKeepingMembership(consumer, record) : null;
    } catch (Exception e) {
      if (span != null) {
        span.end();
      }
      throw e;
    }
    String invalid = unsigned != null ? unsigned : out.invalidReason();
    if (invalid != null) {
      if (span != null) {
        span.end(); // not an attempt: dead-lettered
      }
      byte[] letter = worker.deadLetter(record.topic(), record.partition(), record.offset(), record.key(),
          value, invalid);
      ProducerRecord<byte[], byte[]> dead = new ProducerRecord<>(dlq, record.key(), letter);
      Signing.sign(signingKeys, dead.headers(), letter);
      producer.send(dead).get();
      log("command_dead_lettered", "\"offset\":" + record.offset());
      return;
    }
    Result result = out.result();
    ProducerRecord<byte[], byte[]> answer = new ProducerRecord<>(results, result.executionId().getBytes(java.nio.charset.StandardCharsets.UTF_8), out.value());
    Signing.sign(signingKeys, answer.headers(), out.value());
    Tracing.endAttempt(span, record.headers(), answer.headers(), result, function);
    producer.send(answer).get();
    log("step_done", "\"executionId\":\"" + result.executionId() + "\",\"stepId\":\"" + result.stepId() + "\",\"ok\":" + result.ok());
  }

  /**
   * Run the step on another thread and keep polling meanwhile (paused, so nothing new is
   * fetched): the group does not drop a member whose step takes longer than
   * max.poll.interval.ms. Records of partitions assigned meanwhile are rewound for later.
   */
  private Worker.Processed runKeepingMembership(KafkaConsumer<byte[], byte[]> consumer, ConsumerRecord<byte[], byte[]> record)
      throws Exception {
    Future<Worker.Processed> step = executor.submit(() -> worker.process(record.value() == null ? new byte[0] : record.value()));
    Set<TopicPartition> paused = new HashSet<>(consumer.assignment());
    consumer.pause(paused);
    try {
      while (true) {
        try {
          return step.get(500, TimeUnit.MILLISECONDS);
        } catch (TimeoutException stillRunning) {
          ConsumerRecords<byte[], byte[]> extra = consumer.poll(Duration.ZERO);
          for (TopicPartition tp : extra.partitions()) {
            consumer.seek(tp, extra.records(tp).get(0).offset());
            consumer.pause(Set.of(tp));
            paused.add(tp);
          }
        }
      }
    } finally {
      paused.retainAll(consumer.assignment());
      consumer.resume(paused);
    }
  }

  private void createTopic() {
    Properties a = new Properties();
    a.put("bootstrap.servers", config.bootstrap());
    try (Admin admin = Admin.create(a)) {
      admin.createTopics(List.of(new NewTopic(commands, Optional.of(config.partitions()), Optional.empty()))).all().get();
    } catch (Exception e) {
      if (!(e.getCause() instanceof TopicExistsException)) {
        log("topic_not_created", "\"error\":\"" + String.valueOf(e.getMessage()).replace("\"", "'") + "\"");
      }
    }
  }

  private void log(String event, String fields) {
    System.out.println("{\"event\":\"" + event + "\",\"function\":\"" + function + "\",\"workerId\":\""
        + worker.workerId() + "\"," + fields + "}");
  }
}
