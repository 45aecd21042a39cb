package dev.workflows.worker;

import java.util.Map;

/**
 * A step failure with a type. Throw {@link RetryableError} to have the orchestrator retry
 * with the workflow's backoff, {@link FinalError} to stop retrying (a fallback still runs).
 * Any other exception is retryable, typed by its simple class name.
 */
public abstract class StepFailure extends RuntimeException {
  private final String type;
  private final boolean retryable;
  private final Map<String, Object> details;

  protected StepFailure(String type, String message, boolean retryable, Map<String, Object> details) {
    super(message);
    this.type = type;
    this.retryable = retryable;
    this.details = details;
  }

  public String type() { return type; }

  public boolean retryable() { return retryable; }

  public Map<String, Object> details() { return details; }

  StepError toError() { return new StepError(type, getMessage(), retryable, details); }
}
