"""What the client puts on the wire, checked against a scripted loopback server."""

from datetime import UTC, datetime, timedelta

import pytest

from bulkfhir import (
    AuthenticationError,
    BadRequestError,
    BulkDataClient,
    ClientCredentials,
    ExportRequest,
    KickOffAccepted,
    ServerConfig,
    TransientError,
    UnexpectedResponseError,
)
from tests.support.scripted_server import Reply, ScriptedServer

TOKEN = b'{"access_token": "tok-abc.def.ghi", "expires_in": "1200", "token_type": "bearer"}'
CREDS = ClientCredentials.from_mapping({"client_id": "aco", "client_secret": "s3cr3t-value"})


@pytest.fixture
def server():
    with ScriptedServer() as scripted:
        scripted.route("POST", "/auth/token", Reply(200, {"Content-Type": "application/json"}, TOKEN))
        yield scripted


def client_for(server, **overrides):
    return BulkDataClient(ServerConfig(api="bcda", base_url=server.url, **overrides), CREDS)


def test_kick_off_sends_bcda_headers_and_percent_encodes_the_since_offset(server):
    server.route(
        "GET",
        "/api/v2/Group/all/$export",
        Reply(202, {"Content-Location": f"{server.url}/api/v2/jobs/7"}),
    )
    since = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    result = client_for(server).kick_off(ExportRequest(target="Group/all", types=("Patient", "Coverage"), since=since))
    assert isinstance(result, KickOffAccepted)
    assert result.status_url == f"{server.url}/api/v2/jobs/7"
    kick = server.seen[-1]
    assert (
        kick.path == "/api/v2/Group/all/$export?_type=Patient,Coverage&_since=2026-01-02T03%3A04%3A05.678901%2B00%3A00"
    )
    assert kick.headers["Accept"] == "application/fhir+json"
    assert kick.headers["Prefer"] == "respond-async"
    assert kick.headers["Authorization"] == "Bearer tok-abc.def.ghi"
    token_request = server.seen[0]
    assert token_request.headers["Authorization"].startswith("Basic ")
    assert token_request.body == b""  # BCDA: no form body, no grant_type


def test_token_is_cached_between_calls(server):
    server.route("GET", "/api/v2/Patient/$export", Reply(202, {"Content-Location": "/api/v2/jobs/1"}))
    client = client_for(server)
    client.kick_off(ExportRequest(target="Patient"))
    client.kick_off(ExportRequest(target="Patient"))
    assert [s.path for s in server.seen].count("/auth/token") == 1


def test_token_refreshes_before_expiry():
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    with ScriptedServer() as server:
        server.route("POST", "/auth/token", Reply(200, {}, TOKEN))
        client = BulkDataClient(ServerConfig(api="bcda", base_url=server.url), CREDS, clock=lambda: now[0])
        first = client.authenticate()
        now[0] += timedelta(seconds=1200 - 200)  # 200 s left of 1200: more than the 120 s margin
        assert client.authenticate() == first
        now[0] += timedelta(seconds=100)  # 100 s left: refresh
        assert client.authenticate() > first
        assert [s.path for s in server.seen].count("/auth/token") == 2


def test_401_refreshes_the_token_once_then_gives_up_with_an_authentication_error(server):
    server.route("GET", "/api/v2/jobs/1", Reply(401, {"Content-Type": "application/fhir+json"}, b"{}"))
    with pytest.raises(AuthenticationError, match="freshly issued token") as caught:
        client_for(server).check_status(f"{server.url}/api/v2/jobs/1")
    assert [s.path for s in server.seen] == ["/auth/token", "/api/v2/jobs/1", "/auth/token", "/api/v2/jobs/1"]
    assert "tok-abc" not in str(caught.value)


def test_html_error_page_on_kick_off_is_a_transient_error_naming_the_proxy(server):
    page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    server.route("GET", "/api/v2/Group/all/$export", Reply(502, {"Content-Type": "text/html"}, page))
    with pytest.raises(TransientError, match="HTML page titled '502 Bad Gateway'"):
        client_for(server).kick_off(ExportRequest())


def test_missing_content_location_is_an_unexpected_response(server):
    server.route("GET", "/api/v2/Group/all/$export", Reply(202))
    with pytest.raises(UnexpectedResponseError, match="without a Content-Location"):
        client_for(server).kick_off(ExportRequest())


def test_malformed_manifest_json_is_an_unexpected_response(server):
    server.route("GET", "/api/v2/jobs/3", Reply(200, {"Content-Type": "application/json"}, b'{"output": [}'))
    with pytest.raises(UnexpectedResponseError, match="expected JSON"):
        client_for(server).check_status(f"{server.url}/api/v2/jobs/3")


@pytest.mark.parametrize("status", [302, 418])
def test_unexpected_status_is_typed(server, status):
    server.route("GET", "/api/v2/jobs/3", Reply(status, {"Location": "/elsewhere"}))
    with pytest.raises(UnexpectedResponseError, match=f"unexpected {status}"):
        client_for(server).check_status(f"{server.url}/api/v2/jobs/3")


def test_kick_off_400_carries_the_operation_outcome_diagnostics(server):
    outcome = (
        b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"structure",'
        b'"diagnostics":"Invalid date format supplied in _since parameter.  Date must be in FHIR Instant format."}]}'
    )
    server.route("GET", "/api/v2/Group/all/$export", Reply(400, {"Content-Type": "application/fhir+json"}, outcome))
    with pytest.raises(BadRequestError, match="Invalid date format supplied in _since"):
        client_for(server).kick_off(ExportRequest())


def test_unreachable_server_is_transient():
    client = BulkDataClient(ServerConfig(api="bcda", base_url="http://127.0.0.1:9"), CREDS)
    with pytest.raises(TransientError, match="unreachable"):
        client.authenticate()


def test_plain_http_is_refused_except_on_loopback():
    with pytest.raises(ValueError, match="must use https"):
        BulkDataClient(ServerConfig(api="bcda", base_url="http://sandbox.bcda.cms.gov"), CREDS)


def test_token_endpoint_401_is_an_authentication_error_without_the_secret(server):
    server.route("POST", "/auth/token", Reply(401, {"Content-Type": "text/plain"}, b"Unauthorized"))
    with pytest.raises(AuthenticationError, match="refused the credentials of client 'aco'") as caught:
        client_for(server).authenticate()
    assert "s3cr3t" not in str(caught.value)


def test_token_endpoint_429_carries_retry_after(server):
    server.route("POST", "/auth/token", Reply(429, {"Retry-After": "300"}, b"aco exceeded the rate limit"))
    with pytest.raises(TransientError) as caught:
        client_for(server).authenticate()
    assert caught.value.retry_after == 300


def test_redirected_file_download_drops_the_token_on_a_foreign_host(server):
    with ScriptedServer() as other:
        other.route("GET", "/f.ndjson", Reply(200, {"Content-Type": "application/fhir+ndjson"}, b"{}\n"))
        foreign = other.url.replace("127.0.0.1", "localhost")
        server.route("GET", "/data/1/f.ndjson", Reply(302, {"Location": f"{foreign}/f.ndjson"}))
        with client_for(server).open_file(f"{server.url}/data/1/f.ndjson") as download:
            assert b"".join(download.iter_raw()) == b"{}\n"
        assert "Authorization" in server.seen[-1].headers
        assert "Authorization" not in other.seen[-1].headers


def test_the_kick_off_time_is_taken_from_the_servers_clock(server):
    # AB2D compares _since with its own clock: the kick-off-time watermark must be in server time
    server.route(
        "GET",
        "/api/v2/Patient/$export",
        Reply(202, {"Content-Location": "/api/v2/jobs/1", "Date": "Wed, 01 Jul 2026 10:00:05 GMT"}),
    )
    accepted = client_for(server).kick_off(ExportRequest(target="Patient"))
    assert accepted.server_time == datetime(2026, 7, 1, 10, 0, 4, tzinfo=UTC)  # one second earlier
