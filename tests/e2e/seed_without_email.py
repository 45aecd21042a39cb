"""The seed's Python functions minus `sendPersonalizedEmail`, which the Node.js worker serves."""

from examples import onboarding_functions
from workflows.functions import default_registry

default_registry.unregister("sendPersonalizedEmail")
assert onboarding_functions is not None
