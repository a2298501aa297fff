"""Errors of the Bulk Data client. Each class names what the caller should do.

The class names are also the Step Functions Retry/Catch names (docs/architecture.md §2): Lambda
reports ``type(exc).__name__`` and Step Functions matches it exactly, so the client raises only
these classes, never subclasses. Details live in the message and the attributes::

    BulkDataError                   base, never raised
    ├── TransientError              retry later (``retry_after`` seconds when the server said):
    │                               5xx, 429, timeouts, dropped connections, truncated bodies
    ├── AuthenticationError         fix the credentials or the API access: the token endpoint refused
    │                               them, or the API refused a freshly issued token
    ├── ExportFailedError           the server's export job failed: start a new export
    ├── ExportGoneError             the job or file expired, was cancelled or is unknown: start a new export
    ├── BadRequestError             the server refused the request as asked: fix the parameters
    └── UnexpectedResponseError     the server broke the protocol (malformed JSON, missing header,
                                    unexpected status, HTML page): report it; retrying rarely helps

Messages never contain a token, a secret or a response body beyond a short, sanitised excerpt.
"""

from __future__ import annotations


class BulkDataError(Exception):
    """Base class. ``status`` is the HTTP status when a response caused the error; ``url`` the request URL
    without its query string."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.url = url

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the keyword attributes through pickling (multiprocessing, Lambda error serialisation).
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls: type[BulkDataError], message: str, state: dict[str, object]) -> BulkDataError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class TransientError(BulkDataError):
    """Retry later. ``retry_after`` is the server's Retry-After in seconds, when it sent one.
    ``bytes_received`` is set when a download broke after that many body bytes."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        retry_after: float | None = None,
        bytes_received: int | None = None,
    ) -> None:
        super().__init__(message, status=status, url=url)
        self.retry_after = retry_after
        self.bytes_received = bytes_received


class AuthenticationError(BulkDataError):
    """Fix the credentials (or ask the API owner for access)."""


class ExportFailedError(BulkDataError):
    """The export job failed on the server; ``diagnostics`` holds its OperationOutcome text."""

    def __init__(
        self, message: str, *, status: int | None = None, url: str | None = None, diagnostics: str = ""
    ) -> None:
        super().__init__(message, status=status, url=url)
        self.diagnostics = diagnostics


class ExportGoneError(BulkDataError):
    """The job or file no longer exists (expired, cancelled, unknown, download limit reached)."""


class BadRequestError(BulkDataError):
    """The server refused the request as asked (400, 406, unsupported operation)."""


class UnexpectedResponseError(BulkDataError):
    """The server answered something the Bulk Data protocol does not allow."""
