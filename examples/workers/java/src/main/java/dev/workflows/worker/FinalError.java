package dev.workflows.worker;

import java.util.Map;

/** A failure that is not retried. */
public class FinalError extends StepFailure {
  public FinalError(String type, String message) { this(type, message, null); }

  public FinalError(String type, String message, Map<String, Object> details) {
    super(type, message, false, details);
  }
}
