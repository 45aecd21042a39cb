"""The HTTP API's routers, one module per resource; `workflows.services.trigger.app` includes them
all.

A route module imports what it shares with the others from below (`workflows.services.trigger.deps`,
`auth`, `schemas`, `stored_definitions`, `starts`), never another route module.
"""
