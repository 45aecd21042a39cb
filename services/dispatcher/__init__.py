"""The step dispatcher: runs in-process and HTTP functions, forwards the rest to workers."""

from workflows.services.dispatcher.service import Dispatcher

__all__ = ["Dispatcher"]
