"""Running Python workflow functions: the registry, one call, the attempt's logs, the errors.

Below the services that run functions (`workflows.services.dispatcher`,
`workflows.services.worker`); the SDK (`workflows.functions`, `workflows.errors`) shows them to
users under its own names.
"""
