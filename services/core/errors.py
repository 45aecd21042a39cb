"""The root of every error the core raises, and the core's error tree.

Each error is defined next to the code that raises it (the module in the right column) and
derives from `CoreError`, so a caller can catch the core's errors as one. The ones marked
(ValueError) are also ``ValueError``: bad input a caller reports (the trigger answers 400 or
422, the orchestrator fails the step or dead-letters the message), caught as ``ValueError``
today; the expression branch is not. Errors carry what they are about as attributes.

Error tree::

    CoreError                               workflows.services.core.errors
    ├── DefinitionError (ValueError)        workflows.services.core.issues: .issues .source
    ├── ExpressionError                     workflows.services.core.expressions.errors:
    │   │                                     .message .column (1-based) .source
    │   ├── ExpressionSyntaxError           the text does not parse
    │   ├── ExpressionEvaluationError       a type or name problem while evaluating
    │   ├── ExpressionLimitError            a size, depth or step limit
    │   └── TemplateError                   workflows.services.core.templates: in a '{{ }}' text
    ├── HelperError                         workflows.services.core.expressions.list_helpers:
    │                                         internal, the interpreter turns it into
    │                                         ExpressionEvaluationError with its column
    ├── ForEachError (ValueError)           workflows.services.core.engine: forEach not a list
    ├── NamespaceError (ValueError)         workflows.services.core.namespaces: .name .reason
    ├── ScheduleError (ValueError)          workflows.services.core.schedules: .field
    ├── TriggerError (ValueError)           workflows.services.core.triggers: filter or input
    ├── EventError (ValueError)             workflows.services.core.triggers: .reason .code
    ├── WaitInputError (ValueError)         workflows.services.core.waits: a built-in's input
    ├── PayloadTooLarge (ValueError)        workflows.services.core.payload_refs: .size .limit
    └── QueryError (ValueError)             workflows.services.core.search_query: .message .column

`tests/unit/test_error_trees.py` checks this drawing against the classes.
"""

from __future__ import annotations

__all__ = ["CoreError"]


class CoreError(Exception):
    """Root of the core's errors (see the tree above)."""
