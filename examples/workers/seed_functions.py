"""The seed's Python functions except `sendPersonalizedEmail`, which a worker in another
language serves: `workflows dev --broker kafka --functions examples.workers.seed_functions`
leaves that step to `wf.fn.sendPersonalizedEmail` (the dispatcher forwards it)."""

from examples import onboarding_functions
from workflows.functions import default_registry

default_registry.unregister("sendPersonalizedEmail")
assert onboarding_functions is not None
