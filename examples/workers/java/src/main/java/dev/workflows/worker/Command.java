package dev.workflows.worker;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;

/**
 * One attempt of one step (contracts/schemas/step-command.schema.json). It has a component
 * for every property of the schema: the golden test fails when the contract gains a
 * property this SDK does not know yet.
 */
public record Command(
    int schemaVersion,
    String messageId,
    String executionId,
    Instant occurredAt,
    String commandId,
    String workflow,
    int workflowVersion,
    String stepId,
    String function,
    JsonNode input,
    int attempt,
    Instant deadline,
    String idempotencyKey,
    String inputRef,
    int priority) {}
