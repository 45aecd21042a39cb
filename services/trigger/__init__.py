"""The trigger service: the HTTP API in front of the engine (register, start, inspect, control)."""

from workflows.services.trigger.app import create_app
from workflows.services.trigger.service import TriggerService

__all__ = ["TriggerService", "create_app"]
