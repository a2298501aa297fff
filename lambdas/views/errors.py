"""The engine's errors.

ViewError
 ├── ViewDefinitionError   the view is not valid (structure, a FHIRPath that does not parse,
 │                         an unknown constant or function): found before any resource is read
 └── ViewEvaluationError   the view is valid, but a resource breaks it: a non-collection column
                           with several values, a ``where`` that is not boolean, a value its
                           column type cannot hold exactly
"""

from __future__ import annotations


class ViewError(Exception):
    """Base of the engine's errors; ``str()`` is one line."""


class ViewDefinitionError(ViewError):
    def __init__(self, view: str, problem: str) -> None:
        super().__init__(f"view {view}: {problem}")
        self.view = view
        self.problem = problem


class ViewEvaluationError(ViewError):
    """``problem`` says what went wrong; the caller adds which view and resource."""
