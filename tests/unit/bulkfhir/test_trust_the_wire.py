"""Nothing lost, round three (issue #14), at the client: file identity that survives query-named files,
pages that are not files, the server's clock, bodies never quoted, signed URLs, slow answers, and every
spelling of this machine's address."""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
from datetime import UTC, datetime

import pytest

from bulkfhir import (
    AuthenticationError,
    BulkDataClient,
    ClientCredentials,
    ServerConfig,
    TransientError,
    UnexpectedResponseError,
    _http,
)
from bulkfhir.manifest import parse_manifest
from tests.support.canned import Canned, CannedTransport, session_with
from tests.support.scripted_server import Reply, ScriptedServer

BASE = "https://bulk.example.org"
TOKEN_URL = f"{BASE}/auth/token"
STATUS_URL = f"{BASE}/api/v2/jobs/7"
JSON = {"Content-Type": "application/json"}
CREDS = ClientCredentials.from_mapping({"client_id": "aco", "client_secret": "the-client-secret"})
SIGNATURE = "5e1f9c0ffee5e1f9c0ffee5e1f9c0ffee5e1f9c0ffee"


@pytest.fixture
def transport() -> CannedTransport:
    transport = CannedTransport()
    token = json.dumps({"access_token": "tok-abcdefgh", "expires_in": "1200"}).encode()
    transport.answer("POST", TOKEN_URL, Canned(200, JSON, token))
    return transport


def bcda(transport: CannedTransport) -> BulkDataClient:
    return BulkDataClient(ServerConfig(api="bcda", base_url=BASE), CREDS, session=session_with(transport))


def manifest_of(*entries: tuple[str, str], **extra: object) -> dict[str, object]:
    return {"transactionTime": "2026-06-01T04:12:33Z", "request": f"{BASE}/api/v2/Group/all/$export",
            "requiresAccessToken": True, "output": [{"type": t, "url": u} for t, u in entries], **extra}  # fmt: skip


# ---- 1. a file is its URL less its signature -----------------------------------------------------------


def test_files_named_by_their_query_string_are_as_many_files():
    # one type: before, six files were one, and the run landed 1 of 6
    entries = [("Patient", f"{BASE}/download?file={name}") for name in "ABCDEF"]
    parsed = parse_manifest(manifest_of(*entries), STATUS_URL)
    assert [entry.url for entry in parsed.output] == [url for _, url in entries]


def test_query_named_files_of_several_types_are_not_a_false_collision():
    # several types: before, every run failed with "listed both as Patient and Coverage"
    entries = [("Patient", f"{BASE}/download?file=p1"), ("Coverage", f"{BASE}/download?file=c1"),
               ("ExplanationOfBenefit", f"{BASE}/download?file=e1")]  # fmt: skip
    parsed = parse_manifest(manifest_of(*entries), STATUS_URL)
    assert [(entry.type, entry.url) for entry in parsed.output] == entries


@pytest.mark.parametrize(
    ("first", "again"),
    [
        (
            "/data/1.ndjson?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261201T000000Z&X-Amz-Signature=aa",
            "/data/1.ndjson?X-Amz-Date=20261202T000000Z&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=bb",
        ),
        (
            "/c/1.ndjson?sv=2022-11-02&se=2026-12-01T01%3A00Z&sr=b&sp=r&sig=aa",
            "/c/1.ndjson?sv=2022-11-02&se=2026-12-02&sr=b&sp=r&sig=bb",
        ),
        (
            "/f/1.ndjson?Expires=1700000000&Signature=aa&Key-Pair-Id=K1",
            "/f/1.ndjson?Expires=1800000000&Signature=bb&Key-Pair-Id=K1",
        ),
        ("/download?file=A&sig=aa", "/download?sig=bb&file=A"),
    ],
)
def test_a_file_signed_again_is_the_same_file(first, again):
    assert _http.file_identity(BASE + first) == _http.file_identity(BASE + again)
    assert _http.is_signed(BASE + first) and _http.is_signed(BASE + again)


def test_files_whose_names_differ_are_different_files_and_their_identity_keeps_no_signature():
    a = _http.file_identity(f"{BASE}/download?file=A&X-Amz-Signature={SIGNATURE}")
    b = _http.file_identity(f"{BASE}/download?file=B&X-Amz-Signature={SIGNATURE}")
    assert a != b
    assert a == f"{BASE}/download?file=A"
    assert not _http.is_signed(f"{BASE}/download?file=A")


# ---- 2. a page that is not the file ---------------------------------------------------------------------

BLOCK_PAGE = b"<html><head><title>Access Denied</title></head><body>Blocked by policy</body></html>\n"


@pytest.mark.parametrize(
    ("content_type", "body", "named"),
    [
        ("text/html; charset=utf-8", BLOCK_PAGE, "'Access Denied'"),
        ("text/plain", b"Access to this site is blocked by your organization.\n", "text/plain"),
        ("application/json", b'{"resourceType":"Patient","id":"1"}\n', "application/json"),
    ],
)
def test_a_200_that_is_not_ndjson_is_refused_before_a_byte_lands(transport, content_type, body, named):
    url = f"{BASE}/data/7/coverage.ndjson"
    transport.answer("GET", url, Canned(200, {"Content-Type": content_type}, body))
    with pytest.raises(UnexpectedResponseError, match="not NDJSON") as refused:
        bcda(transport).open_file(url)
    assert named in str(refused.value)
    assert "proxy, firewall or login page" in str(refused.value)


@pytest.mark.parametrize("content_type", ["application/fhir+ndjson", "application/ndjson", "binary/octet-stream", None])
def test_ndjson_and_untyped_object_store_bodies_are_files(transport, content_type):
    url = f"{BASE}/data/7/patient.ndjson"
    headers = {"Content-Type": content_type} if content_type else {}
    transport.answer("GET", url, Canned(200, headers, b'{"resourceType":"Patient","id":"1"}\n'))
    with bcda(transport).open_file(url) as download:
        assert b"".join(download.iter_raw()) == b'{"resourceType":"Patient","id":"1"}\n'


def test_a_page_in_a_files_place_is_named_but_urls_in_it_lose_their_queries(transport):
    url = f"{BASE}/data/7/coverage.ndjson"
    page = f"Please sign in to continue to {BASE}/data/7/coverage.ndjson?X-Amz-Signature={SIGNATURE}\n"
    transport.answer("GET", url, Canned(200, {"Content-Type": "text/plain"}, page.encode()))
    with pytest.raises(UnexpectedResponseError) as refused:
        bcda(transport).open_file(url)
    assert "Please sign in to continue" in str(refused.value) and SIGNATURE not in str(refused.value)


# ---- 3. the server's clock comes with the manifest --------------------------------------------------------


def test_a_completed_status_carries_the_servers_clock(transport):
    headers = {**JSON, "Date": "Tue, 01 Dec 2026 12:00:00 GMT"}
    transport.answer("GET", STATUS_URL, Canned(200, headers, json.dumps(manifest_of()).encode()))
    done = bcda(transport).check_status(STATUS_URL)
    assert done.server_time == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


# ---- 7. a malformed manifest is never quoted ------------------------------------------------------------


def test_a_malformed_manifest_is_described_by_its_shape_never_quoted(transport):
    signed = f"{BASE}/data/7/a.ndjson?X-Amz-Credential=AKIAEXAMPLE%2F20261201&X-Amz-Signature={SIGNATURE}"
    body = json.dumps({"output": [{"type": "Patient", "url": signed}], "transactionTime": "x"}).encode()[:-20]
    transport.answer("GET", STATUS_URL, Canned(200, JSON, body))
    with pytest.raises(UnexpectedResponseError) as broken:
        bcda(transport).check_status(STATUS_URL)
    message = str(broken.value)
    assert "malformed JSON" in message and f"{len(body)} bytes" in message
    assert SIGNATURE[:12] not in message and "AKIAEXAMPLE" not in message and "X-Amz" not in message


# ---- 8. a refused pre-signed URL ---------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["https://storage.example.net", BASE])
def test_a_refused_signed_url_asks_for_a_rerun_and_never_for_the_token_to_go_to_the_storage_host(transport, host):
    url = f"{host}/bucket/1.ndjson"
    transport.answer("GET", url, Canned(403, {"Content-Type": "application/xml"}, b"<Error>AccessDenied</Error>"))
    with pytest.raises(AuthenticationError) as refused:
        bcda(transport).open_file(f"{url}?X-Amz-Expires=3600&X-Amz-Signature={SIGNATURE}")
    message = str(refused.value)
    assert "signature has probably expired" in message and "Re-run" in message
    assert "Do not add" in message and "add it to the source's file_hosts" not in message
    assert SIGNATURE not in message


# ---- 9. a slow answer is retried ------------------------------------------------------------------------------


def test_a_status_answer_slower_than_the_read_timeout_is_transient():
    released = threading.Event()

    def never_in_time(_seen: object) -> Reply:
        released.wait(10)
        return Reply(202, {"X-Progress": "late"})

    with ScriptedServer() as server:
        server.route("POST", "/auth/token", Reply(200, {}, b'{"access_token": "tok-abcdefgh", "expires_in": "1200"}'))
        server.route("GET", "/api/v2/jobs/1", never_in_time)
        client = BulkDataClient(ServerConfig(api="bcda", base_url=server.url, read_timeout=0.2), CREDS)
        try:
            with pytest.raises(TransientError):
                client.check_status(f"{server.url}/api/v2/jobs/1")
        finally:
            released.set()


def test_a_manifest_that_breaks_off_is_transient_not_a_protocol_error():
    body = json.dumps(manifest_of(("Patient", "http://127.0.0.1:1/data/1.ndjson"))).encode()
    with ScriptedServer() as server:
        server.route("POST", "/auth/token", Reply(200, {}, b'{"access_token": "tok-abcdefgh", "expires_in": "1200"}'))
        server.route("GET", "/api/v2/jobs/1", Reply(200, JSON, body, cut_after=len(body) // 2))
        client = BulkDataClient(ServerConfig(api="bcda", base_url=server.url), CREDS)
        with pytest.raises(TransientError, match="broke off"):
            client.check_status(f"{server.url}/api/v2/jobs/1")


def test_http_timeouts_are_well_under_a_minute_by_default():
    config = ServerConfig(api="bcda", base_url=BASE)
    assert config.connect_timeout <= 10 and config.read_timeout <= 30


# ---- 12. every spelling of this machine ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "0",
        "2852039166",
        "localhost.",
        "api.localhost",
    ],
)
def test_a_manifest_cannot_reach_this_machine_by_another_spelling_of_its_address(transport, host):
    body = json.dumps(manifest_of(("Patient", f"https://{host}:9001/2018-06-01/runtime/invocation/next")))
    transport.answer("GET", STATUS_URL, Canned(200, JSON, body.encode()))
    with pytest.raises(UnexpectedResponseError, match="points at this machine"):
        bcda(transport).check_status(STATUS_URL)


def test_a_name_that_resolves_to_this_machine_is_refused_too(transport, monkeypatch):
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == "files.rebound.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    _http._resolve.cache_clear()
    try:
        body = json.dumps(manifest_of(("Patient", "https://files.rebound.example/1.ndjson")))
        transport.answer("GET", STATUS_URL, Canned(200, JSON, body.encode()))
        with pytest.raises(UnexpectedResponseError, match="points at this machine"):
            bcda(transport).check_status(STATUS_URL)
    finally:
        _http._resolve.cache_clear()


class _SilentListener:
    """A TCP listener on 127.0.0.1 that accepts and records what a client sends, never answering."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    while chunk := conn.recv(4096):
                        self.received += chunk
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()
        self._thread.join(5)


def test_a_name_whose_dns_answer_turns_to_this_machine_after_the_check_is_refused_at_connect(monkeypatch):
    """DNS rebinding: the URL check reads a public address, the connection then gets 127.0.0.1 (in
    Lambda, the Runtime API). The connection's own peer is checked, before a byte is sent on it."""
    listener = _SilentListener()
    real = socket.getaddrinfo

    def connect_resolution(host, *args, **kwargs):
        if host == "rebound.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", listener.port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(_http, "_resolve", lambda name: (ipaddress.ip_address("93.184.216.34"),))
    monkeypatch.setattr(socket, "getaddrinfo", connect_resolution)
    try:
        config = ServerConfig(
            api="bcda", base_url=f"https://rebound.example:{listener.port}", connect_timeout=2, read_timeout=2
        )
        client = BulkDataClient(config, CREDS)
        with pytest.raises(UnexpectedResponseError, match="an address of this machine"):
            client.check_status(f"https://rebound.example:{listener.port}/api/v2/jobs/1")
    finally:
        listener.close()
    assert listener.received == b""  # not even a TLS hello


def test_only_a_client_whose_server_is_elsewhere_checks_its_peers_and_a_test_transport_stays():
    from requests.adapters import HTTPAdapter

    from bulkfhir.client import new_session
    from bulkfhir.remote_only import RemoteOnlyAdapter

    remote = BulkDataClient(ServerConfig(api="bcda", base_url=BASE), CREDS, session=new_session(pool_size=24))
    adapters = remote._session.adapters
    assert {type(adapters[p]) for p in ("https://", "http://")} == {RemoteOnlyAdapter}
    assert adapters["https://"]._pool_maxsize == 24
    local = BulkDataClient(ServerConfig(api="bcda", base_url="http://127.0.0.1:9"), CREDS, session=new_session())
    assert type(local._session.adapters["https://"]) is HTTPAdapter
    transport = CannedTransport()
    canned = BulkDataClient(ServerConfig(api="bcda", base_url=BASE), CREDS, session=session_with(transport))
    assert canned._session.adapters["https://"] is transport
