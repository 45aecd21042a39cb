package dev.workflows.worker;

import java.time.Instant;

/** The command being run: its idempotency key (make side effects once), attempt, deadline. */
public record StepContext(Command command) {
  public String idempotencyKey() { return command.idempotencyKey(); }

  public int attempt() { return command.attempt(); }

  public Instant deadline() { return command.deadline(); }

  public String executionId() { return command.executionId(); }
}
