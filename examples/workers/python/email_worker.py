"""Serves the seed workflow's sendPersonalizedEmail on librdkafka (confluent-kafka):

WORKFLOWS_KAFKA_BOOTSTRAP=127.0.0.1:9092 python examples/workers/python/email_worker.py
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wfworker import FinalError, StepContext, Worker, message_id_for

worker = Worker()


@dataclass
class EmailInput:
    """The step's input in the seed definition (examples/customer_onboarding.yaml)."""

    to: str
    template: str
    variables: dict[str, str] = field(default_factory=dict)


@dataclass
class EmailSent:
    messageId: str  # the wire names
    to: str
    template: str
    sentBy: str


@worker.function("sendPersonalizedEmail")
def send_personalized_email(email: EmailInput, ctx: StepContext) -> EmailSent:
    """ "Sends" the e-mail; the message id derives from the idempotency key (sent once)."""
    if "@" not in email.to:
        raise FinalError(
            "InvalidRecipient",
            f"input.to must be an e-mail address, got {email.to!r}",
            {"field": "to"},
        )
    return EmailSent(message_id_for(ctx.idempotency_key), email.to, email.template, "python")


if __name__ == "__main__":
    worker.run()
