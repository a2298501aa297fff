"""Access tokens: obtained per profile, cached, refreshed before expiry and once on 401/403."""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests

from bulkfhir._http import body_truncated, buffer_body, retry_after_of, strip_query
from bulkfhir.credentials import ClientCredentials, Secret
from bulkfhir.errors import AuthenticationError, TransientError, UnexpectedResponseError
from bulkfhir.profiles import SourceProfile
from bulkfhir.smart_auth import ASSERTION_TYPE, client_assertion

logger = logging.getLogger(__name__)

# A token that does not say how long it lives is trusted for five minutes.
_DEFAULT_LIFETIME = 300.0
#: OAuth 2.0's error codes (RFC 6749 §5.2): the only part of a token endpoint's answer ever repeated
#: in a message. The body itself never is: a 200 may hold a token, an error may echo the request.
_OAUTH_ERRORS = frozenset(
    {"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type",
     "invalid_scope"}
)  # fmt: skip


def describe_token_response(response: requests.Response) -> str:
    """What a token endpoint answered, without a word of its body: its size and type, and the OAuth
    error code when it is one of the standard ones."""
    content_type = (response.headers.get("Content-Type") or "none").split(";")[0].strip()[:60]
    size = len(response.content or b"")
    described = f"{size}{'+' if body_truncated(response) else ''} bytes of {content_type}"
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return described
    code = body.get("error") if isinstance(body, dict) else None
    return f"OAuth error {code}, {described}" if code in _OAUTH_ERRORS else described


#: A client id longer than this is shown by its start and length: the SMART reference server's client
#: ids are signed JWTs of ~800 characters, which would drown the message.
_CLIENT_ID_SHOWN = 40


def shown_client_id(client_id: str) -> str:
    """The client id as messages name it: whole when short, else its start and its length."""
    if len(client_id) <= _CLIENT_ID_SHOWN:
        return repr(client_id)
    return f"{client_id[:16]!r}… ({len(client_id)} characters)"


@dataclass(frozen=True)
class AccessToken:
    value: Secret
    expires_at: datetime
    lifetime_seconds: float

    def __repr__(self) -> str:
        return f"AccessToken(value=Secret('********'), expires_at={self.expires_at.isoformat()})"


def parse_expires_in(raw: object) -> float:
    """expires_in as seconds. BCDA sends a JSON *string* ("1200"); Okta and SMART servers a number."""
    if raw is None or raw == "":
        return _DEFAULT_LIFETIME
    if isinstance(raw, bool):
        raise ValueError("boolean")
    if isinstance(raw, int | float):
        seconds = float(raw)
    elif isinstance(raw, str):
        seconds = float(raw.strip())
    else:
        raise ValueError(type(raw).__name__)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("not positive")
    return seconds


class TokenProvider:
    """Obtains and caches a bearer token. Thread-safe.

    A token is refreshed when less than max(60 s, 10 % of its lifetime) remains, and
    ``invalidate(token)`` (called by the client on a 401/403) forces a new one.
    """

    def __init__(
        self,
        profile: SourceProfile,
        credentials: ClientCredentials,
        token_url: Callable[[], str],
        session: requests.Session,
        clock: Callable[[], datetime],
        timeout: tuple[float, float] = (10.0, 60.0),
    ) -> None:
        self._profile = profile
        self._credentials = credentials
        self._token_url = token_url
        self._session = session
        self._clock = clock
        self._timeout = timeout
        self._lock = threading.Lock()
        self._token: AccessToken | None = None

    def __repr__(self) -> str:
        return f"TokenProvider(profile={self._profile.name!r}, client_id={self._credentials.client_id!r})"

    def get(self) -> AccessToken:
        with self._lock:
            if self._token is None or self._needs_refresh(self._token):
                self._token = self._request_token()
            return self._token

    def invalidate(self, token: AccessToken) -> None:
        """Forget ``token`` (if it is still the cached one): the server refused it."""
        with self._lock:
            if self._token is token:
                self._token = None

    def _needs_refresh(self, token: AccessToken) -> bool:
        margin = max(60.0, 0.1 * token.lifetime_seconds)
        margin = min(margin, token.lifetime_seconds / 2)
        return self._clock() >= token.expires_at - timedelta(seconds=margin)

    def _request_token(self) -> AccessToken:
        url = self._token_url()
        response = self._send(url)
        if response.status_code == 200:
            return self._parse(response, url)
        where = strip_query(url)
        detail = describe_token_response(response)
        status = response.status_code
        if 300 <= status < 400:
            # A redirect would re-post the credentials (a SMART client assertion, Basic auth) to wherever
            # the server points, plain http included: token requests are never redirected.
            raise UnexpectedResponseError(
                f"token endpoint {where} answered a redirect ({status}); token requests are not redirected: "
                "configure the source's token_url with the final token endpoint",
                status=status,
                url=where,
            )
        if status == 429 or status >= 500:
            retry_after = retry_after_of(response, self._clock())
            raise TransientError(
                f"token endpoint {where} answered {status}: {detail}",
                status=status,
                url=where,
                retry_after=retry_after,
            )
        if status in (400, 401, 403):
            client = shown_client_id(self._credentials.client_id)
            raise AuthenticationError(
                f"token endpoint {where} refused the credentials of client {client} "
                f"({status}: {detail}); {self._profile.credentials_hint}",
                status=status,
                url=where,
            )
        raise UnexpectedResponseError(
            f"token endpoint {where} answered an unexpected {status}: {detail}", status=status, url=where
        )

    def _send(self, url: str) -> requests.Response:
        creds = self._credentials
        style = self._profile.token_style
        if style == "basic":
            # BCDA: Basic credentials and no body, no grant_type (bcda-static-site get-a-bearer-token).
            return self._post(url, b"", auth=(creds.client_id, self._require_secret()))
        if style == "client_credentials":
            # AB2D's Okta: Basic credentials plus grant_type and scope=clientCreds in a form body.
            form = {"grant_type": "client_credentials", "scope": self._profile.scope or ""}
            return self._post(url, form, auth=(creds.client_id, self._require_secret()))
        if style == "smart":
            if creds.private_key_jwk is None:
                raise AuthenticationError(
                    "SMART Backend Services needs a private_key_jwk in the credentials, not a client_secret"
                )
            form = {
                "grant_type": "client_credentials",
                "scope": self._profile.scope or "system/*.read",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": client_assertion(creds.client_id, url, creds.private_key_jwk, self._clock()),
            }
            return self._post(url, form, auth=None)
        raise ValueError(f"unknown token style {style!r}")

    def _post(self, url: str, data: bytes | dict[str, str], auth: tuple[str, str] | None) -> requests.Response:
        """POST without following redirects (see _request_token); the body is read with a size limit."""
        try:
            response = self._session.post(
                url,
                data=data,
                auth=auth,
                headers={"Accept": "application/json"},
                timeout=self._timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            raise TransientError(
                f"token endpoint {strip_query(url)} unreachable: {type(exc).__name__}", url=strip_query(url)
            ) from None
        return buffer_body(response)

    def _require_secret(self) -> str:
        if self._credentials.client_secret is None:
            raise AuthenticationError(f"{self._profile.name} needs a client_secret in the credentials")
        return self._credentials.client_secret.reveal()

    def _parse(self, response: requests.Response, url: str) -> AccessToken:
        try:
            body = None if body_truncated(response) else json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            # Never quoted: a form-encoded or otherwise odd 200 may well hold the token itself.
            raise UnexpectedResponseError(
                f"token endpoint {strip_query(url)} answered 200 with a body that is not a JSON object "
                f"({describe_token_response(response)})",
                status=200,
                url=strip_query(url),
            )
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise UnexpectedResponseError(
                f"token endpoint {strip_query(url)} answered 200 without an access_token",
                status=200,
                url=strip_query(url),
            )
        try:
            lifetime = parse_expires_in(body.get("expires_in"))
        except ValueError:
            raise UnexpectedResponseError(
                f"token endpoint {strip_query(url)} sent an unreadable expires_in",
                status=200,
                url=strip_query(url),
            ) from None
        expires_at = self._clock() + timedelta(seconds=lifetime)
        logger.info("obtained an access token", extra={"expires_at": expires_at.isoformat()})
        return AccessToken(value=Secret(value), expires_at=expires_at, lifetime_seconds=lifetime)
