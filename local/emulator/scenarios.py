"""The injected faults: which request gets which misbehaviour, per scenario.

Counters live in `State.counters`, so "the first N" means the first N since the emulator started.
"""

from __future__ import annotations

from local.emulator.state import State
from local.emulator.wire import Response, text_response

STATUS_5XX_SEQUENCE = (503, 500, 502)

PROXY_PAGE = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>awselb/2.0</center>\r\n</body>\r\n</html>\r\n"
)


def proxy_page(code: int, reason: str) -> Response:
    """An HTML error page as a load balancer in front of the API would send it."""
    return text_response(code, PROXY_PAGE.format(code=code, reason=reason), "text/html")


def kickoff_fault(state: State) -> Response | None:
    """html-error: kick-offs answered by the proxy with a 502 page (the first kickoff_429_count)."""
    if state.scenario("html-error") and state.bump("kickoff-fault") <= state.config.kickoff_429_count:
        return proxy_page(502, "Bad Gateway")
    return None


def kickoff_throttled(state: State) -> bool:
    """kickoff-429: the first kickoff_429_count kick-offs are refused with nothing to adopt."""
    return state.scenario("kickoff-429") and state.bump("kickoff-429") <= state.config.kickoff_429_count


def status_fault(state: State) -> Response | None:
    """status-5xx: the first polls fail (503 + Retry-After, 500 text, 502 HTML); unexpected-status."""
    if state.scenario("unexpected-status"):
        if state.config.unexpected_status == 302:
            return text_response(302, "", "text/html").with_header("Location", "/login")
        return text_response(state.config.unexpected_status, "I'm a teapot\n")
    if state.scenario("status-5xx"):
        number = state.bump("status-5xx")
        if number == 1:
            return text_response(503, "Service Unavailable\n").with_header("Retry-After", "1")
        if number == 2:
            return text_response(500, "Internal Server Error\n")
        if number == 3:
            return proxy_page(502, "Bad Gateway")
    return None


def download_fault(state: State, file_key: str) -> str | None:
    """drop-connection / truncated-gzip: the first downloads of each file are broken."""
    if not state.scenario("drop-connection", "truncated-gzip"):
        return None
    if state.bump(f"download:{file_key}") > state.config.fault_downloads_per_file:
        return None
    return "drop" if state.scenario("drop-connection") else "truncate"


def token_worn_out(state: State, jti: str | None) -> bool:
    """token-expiry: a token stops working after a few API calls, whatever expires_in said."""
    if not state.scenario("token-expiry") or jti is None:
        return False
    return state.issuer.use(jti) > state.config.token_expiry_after_calls


def break_manifest(body: bytes) -> bytes:
    """malformed-manifest: a 200 whose JSON stops half way."""
    return body[: max(len(body) // 2, 1)]


def accepted(state: State, status_url: str) -> Response:
    """The kick-off 202; no-content-location leaves out the one header the client needs;
    kickoff-response-lost: the first job is created, but the proxy gives up waiting and answers 504."""
    if state.scenario("kickoff-response-lost") and state.bump("response-lost") == 1:
        return proxy_page(504, "Gateway Time-out")
    if state.scenario("no-content-location"):
        return Response(202)
    return Response(202, [("Content-Location", status_url)])
