package dev.workflows.worker;

/** Where the broker is and how topics are named: the same variables as the engine's services. */
public record WorkerConfig(String bootstrap, String topicPrefix, int partitions) {
  /** WORKFLOWS_KAFKA_BOOTSTRAP (127.0.0.1:9092), WORKFLOWS_TOPIC_PREFIX (""), WORKFLOWS_PARTITIONS (8). */
  public static WorkerConfig fromEnv() {
    String bootstrap = System.getenv().getOrDefault("WORKFLOWS_KAFKA_BOOTSTRAP", "127.0.0.1:9092");
    String prefix = System.getenv().getOrDefault("WORKFLOWS_TOPIC_PREFIX", "");
    int partitions = 8;
    try {
      partitions = Integer.parseInt(System.getenv().getOrDefault("WORKFLOWS_PARTITIONS", "8"));
    } catch (NumberFormatException e) {
      // keep the default
    }
    return new WorkerConfig(bootstrap, prefix, partitions);
  }
}
