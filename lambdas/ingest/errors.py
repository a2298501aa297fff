"""Errors of the ingest application.

Like ``bulkfhir.errors``, the class names are the state machine's Retry/Catch names, so each class
raised across a Lambda boundary is one of these exact names (never a subclass)::

    IngestError                 base, never raised
    ├── RunInProgressError      another live execution holds the lease for this scope: wait, or stop it
    ├── ConfigurationError      unknown source, missing/invalid secret, bad run input: fix config
    ├── VerificationError       a landed file failed its checks: retried, then fail the run
    ├── ExportTimedOutError     the server job exceeded the wait budget: it is cancelled
    └── IncompleteRunError      finalize found files that did not land: re-run to fetch them
"""

from __future__ import annotations


class IngestError(Exception):
    """Base class of the application's errors."""


class RunInProgressError(IngestError):
    pass


class ConfigurationError(IngestError):
    pass


class VerificationError(IngestError):
    pass


class ExportTimedOutError(IngestError):
    pass


class IncompleteRunError(IngestError):
    pass
