package dev.workflows.worker;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;
import java.util.Map;

/**
 * The outcome of one attempt (contracts/schemas/step-result.schema.json); nulls are sent. {@code logs}:
 * lines the function logged ({@code {at, level, logger, message}}), shown by {@code workflows logs}.
 */
public record Result(
    int schemaVersion,
    String messageId,
    String executionId,
    Instant occurredAt,
    String commandId,
    String stepId,
    int attempt,
    boolean ok,
    JsonNode output,
    StepError error,
    String workerId,
    Instant startedAt,
    Instant finishedAt,
    Map<String, Object> call,
    java.util.List<Map<String, Object>> logs) {}
