"""SQL on FHIR v2 ViewDefinitions: check, compile and evaluate them over FHIR JSON. Pure Python
(no boto3, no Powertools, nothing of ``ingest``).

    from views import load_view, compile_view

    view = compile_view(load_view(json.loads(text), label="my_view"))
    for row in view.evaluate(resources):  # dicts: column name -> value
        ...
"""

from views.compile import CompiledView, compile_view
from views.definition import Column, ViewDefinition, load_view
from views.errors import ViewDefinitionError, ViewError, ViewEvaluationError

__all__ = [
    "Column",
    "CompiledView",
    "ViewDefinition",
    "ViewDefinitionError",
    "ViewError",
    "ViewEvaluationError",
    "compile_view",
    "load_view",
]
