"""The notifier: logs execution outcomes and sends signed webhooks about them."""

from workflows.services.notifier.service import Notifier

__all__ = ["Notifier"]
