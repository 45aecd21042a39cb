"""The seed's example functions and the approval test's, in one worker (dashboard insights test)."""

from __future__ import annotations

from examples import onboarding_functions
from tests.e2e import approval_functions

assert onboarding_functions is not None and approval_functions is not None
