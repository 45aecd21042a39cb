package dev.workflows.worker;

import java.util.Map;

/** Why an attempt failed; {@code retryable == false} is final. */
public record StepError(String type, String message, boolean retryable, Map<String, Object> details) {}
