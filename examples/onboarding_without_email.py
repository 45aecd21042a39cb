"""The seed's Python functions minus `sendPersonalizedEmail`, for `workflows dev --functions`
when another worker serves that one (the Node.js worker, or examples/faststream_app.py)."""

from examples import onboarding_functions
from workflows.functions import default_registry

default_registry.unregister("sendPersonalizedEmail")
assert onboarding_functions is not None
