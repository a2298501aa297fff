"""bulkfhir — a Bulk Data Access client faithful to what CMS's BCDA and AB2D (and SMART Bulk Data
servers) really send on the wire. Depends on requests, the standard library and PyJWT only.

Typical use::

    client = BulkDataClient(ServerConfig(api="bcda", base_url="https://sandbox.bcda.cms.gov"),
                            ClientCredentials.from_mapping(secret_json))
    kick = client.kick_off(ExportRequest(target="Group/all", since=watermark))
    status = client.check_status(kick.status_url)          # ExportInProgress | ExportComplete
    with client.open_file(url, requires_token=manifest.requires_access_token) as download:
        for chunk in download.iter_raw():                    # gzip bytes as sent
            ...

Errors (``bulkfhir.errors``) name what to do: TransientError, AuthenticationError,
ExportFailedError, ExportGoneError, BadRequestError, UnexpectedResponseError.
"""

from bulkfhir.client import (
    BulkDataClient,
    ExportComplete,
    ExportInProgress,
    ExportRequest,
    KickOffAccepted,
    KickOffThrottled,
    ServerConfig,
    format_instant,
    new_session,
    request_seconds_at_most,
)
from bulkfhir.credentials import ClientCredentials, Secret
from bulkfhir.download import FileDownload
from bulkfhir.errors import (
    AuthenticationError,
    BadRequestError,
    BulkDataError,
    ExportFailedError,
    ExportGoneError,
    TransientError,
    UnexpectedResponseError,
)
from bulkfhir.gzipstream import GzipMembersDecoder, NdjsonCounter
from bulkfhir.manifest import Manifest, ManifestFile, parse_instant
from bulkfhir.outcomes import OutcomeTally
from bulkfhir.profiles import PROFILES, SourceProfile, file_lifetime_text, get_profile, profile_for
from bulkfhir.progress import next_poll_wait, parse_progress
from bulkfhir.tokens import AccessToken, TokenProvider

__all__ = [
    "PROFILES",
    "AccessToken",
    "AuthenticationError",
    "BadRequestError",
    "BulkDataClient",
    "BulkDataError",
    "ClientCredentials",
    "ExportComplete",
    "ExportFailedError",
    "ExportGoneError",
    "ExportInProgress",
    "ExportRequest",
    "FileDownload",
    "GzipMembersDecoder",
    "KickOffAccepted",
    "KickOffThrottled",
    "Manifest",
    "ManifestFile",
    "NdjsonCounter",
    "OutcomeTally",
    "Secret",
    "ServerConfig",
    "SourceProfile",
    "TokenProvider",
    "TransientError",
    "UnexpectedResponseError",
    "file_lifetime_text",
    "format_instant",
    "get_profile",
    "new_session",
    "next_poll_wait",
    "parse_instant",
    "parse_progress",
    "profile_for",
    "request_seconds_at_most",
]

#: The error classes raised across a Lambda boundary: the state machine's Retry/Catch names.
ERROR_NAMES = (
    "TransientError",
    "AuthenticationError",
    "ExportFailedError",
    "ExportGoneError",
    "BadRequestError",
    "UnexpectedResponseError",
)
