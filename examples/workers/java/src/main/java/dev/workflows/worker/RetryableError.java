package dev.workflows.worker;

import java.util.Map;

/** A failure the orchestrator retries (until the step's maxAttempts). */
public class RetryableError extends StepFailure {
  public RetryableError(String type, String message) { this(type, message, null); }

  public RetryableError(String type, String message, Map<String, Object> details) {
    super(type, message, true, details);
  }
}
