package dev.workflows.worker;

import java.time.Instant;

/** What the worker publishes on wf.dlq for a record that is not a valid command. */
public record DeadLetter(
    int schemaVersion,
    String messageId,
    Instant occurredAt,
    String sourceTopic,
    Integer partition,
    Long offset,
    String key,
    String reason,
    String errorType,
    String originalB64,
    String originalText,
    String service,
    String executionId) {}
