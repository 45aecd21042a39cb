"""Functions of the customer-onboarding template: the seed's example implementations."""

from examples import onboarding_functions

__all__ = ["onboarding_functions"]
