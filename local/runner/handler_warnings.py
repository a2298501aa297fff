"""The handlers' warnings (a download that broke and resumes, a status check that failed and is
retried, a job the server gave out again) as lines of the run's progress, with its timestamp and
indent, among the states in the order they happened: logged by the services' own loggers, they
reached the terminal bare, through Python's last-resort handler, ahead of the progress lines."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

#: The loggers of the Lambda code (``ingest.services.*``, ``bulkfhir.*`` propagate to them).
LOGGERS = ("ingest", "bulkfhir")


class _NoteHandler(logging.Handler):
    def __init__(self, note: Callable[[str, float], None]) -> None:
        super().__init__(logging.WARNING)
        self._note = note

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            index = getattr(record, "index", None)
            self._note(f"{message} (file #{index})" if index is not None else message, record.created)
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def handler_warnings_to(note: Callable[[str, float], None]) -> Iterator[None]:
    """While inside, WARNING and above from the Lambda code's loggers go to ``note(line, when)``."""
    handler = _NoteHandler(note)
    loggers = [logging.getLogger(name) for name in LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
