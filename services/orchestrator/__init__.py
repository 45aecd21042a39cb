"""The orchestrator: consumes starts, step results and control commands; advances state in Redis."""

from workflows.services.orchestrator.service import Orchestrator

__all__ = ["Orchestrator"]
