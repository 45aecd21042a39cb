package dev.workflows.worker.example;

import dev.workflows.worker.FinalError;
import dev.workflows.worker.StepContext;
import dev.workflows.worker.Worker;
import dev.workflows.worker.WorkerConfig;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;

/** Serves the seed workflow's sendPersonalizedEmail: {@code java -jar target/workflows-worker.jar}. */
public final class EmailWorker {
  /** The step's input in the seed definition (examples/customer_onboarding.yaml). */
  public record EmailInput(String to, String template, Map<String, String> variables) {}

  /** The step's output. */
  public record EmailSent(String messageId, String to, String template, String sentBy) {}

  /** "Sends" the e-mail; the message id derives from the idempotency key (sent once). */
  public static EmailSent sendPersonalizedEmail(EmailInput input, StepContext context) throws Exception {
    if (input.to() == null || !input.to().contains("@")) {
      throw new FinalError("InvalidRecipient", "input.to must be an e-mail address, got " + input.to(), Map.of("field", "to"));
    }
    byte[] digest = MessageDigest.getInstance("SHA-256").digest(context.idempotencyKey().getBytes(StandardCharsets.UTF_8));
    return new EmailSent(HexFormat.of().formatHex(digest).substring(0, 16), input.to(), input.template(), "java");
  }

  public static void main(String[] args) throws Exception {
    Worker worker = Worker.create().register("sendPersonalizedEmail", EmailInput.class, EmailWorker::sendPersonalizedEmail);
    worker.stopOnSignals().run(WorkerConfig.fromEnv());
  }
}
