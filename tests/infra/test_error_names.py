"""The Retry/Catch names kept as data in ``infra`` are the Lambda code's error class names."""

from __future__ import annotations

import inspect

import pytest

from infra import error_names


def _raised_classes(module: object, base: type) -> set[str]:
    return {
        name
        for name, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, base) and cls is not base and cls.__module__ == module.__name__  # type: ignore[attr-defined]
    }


def test_ingest_error_names() -> None:
    from ingest import errors

    assert set(error_names.INGEST_ERRORS) == _raised_classes(errors, errors.IngestError)


def test_bulkfhir_error_names() -> None:
    errors = pytest.importorskip("bulkfhir.errors")
    assert set(error_names.BULKFHIR_ERRORS) == _raised_classes(errors, errors.BulkDataError)
