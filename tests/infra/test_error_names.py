"""The Retry/Catch names kept as data in ``infra`` are the Lambda code's error class names."""

from __future__ import annotations

import inspect

from bulkfhir import ERROR_NAMES
from bulkfhir import errors as bulkfhir_errors
from infra import error_names
from ingest import errors as ingest_errors


def _raised_classes(module: object, base: type) -> set[str]:
    return {
        name
        for name, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, base) and cls is not base and cls.__module__ == module.__name__  # type: ignore[attr-defined]
    }


def test_ingest_error_names() -> None:
    assert set(error_names.INGEST_ERRORS) == _raised_classes(ingest_errors, ingest_errors.IngestError)


def test_bulkfhir_error_names() -> None:
    names = _raised_classes(bulkfhir_errors, bulkfhir_errors.BulkDataError)
    assert set(error_names.BULKFHIR_ERRORS) == names == set(ERROR_NAMES)
