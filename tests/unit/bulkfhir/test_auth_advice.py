"""Authentication failures and short error bodies as a user reads them: the source's own advice, a
server's plain text quoted (bounded), an overlong client id not repeated whole."""

from __future__ import annotations

import pytest
import requests

from bulkfhir import AuthenticationError, BulkDataClient, ClientCredentials, ServerConfig
from bulkfhir._http import describe_body
from tests.support.scripted_server import Reply, ScriptedServer


def _response(status: int, content_type: str, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers["Content-Type"] = content_type
    response._content = body
    return response


@pytest.mark.parametrize(
    ("status", "text"), [(401, "Invalid token"), (413, "Too many files"), (429, "Too Many Requests. Try again later.")]
)
def test_a_plain_text_body_sent_as_text_html_is_quoted(status: int, text: str) -> None:
    # Express (the SMART reference server) labels res.send("...") text/html
    described = describe_body(_response(status, "text/html; charset=utf-8", text.encode()))

    assert described == text


def test_an_html_page_is_still_named_by_its_title() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"

    assert describe_body(_response(502, "text/html", page)).startswith("an HTML page titled '502 Bad Gateway'")


def test_a_long_plain_text_body_is_bounded() -> None:
    assert len(describe_body(_response(401, "text/html", b"x" * 5000))) <= 160


def test_a_long_client_id_is_not_repeated_whole() -> None:
    # the SMART reference server's client ids are signed JWTs of hundreds of characters
    client_id = "eyJhbGciOiJIUzI1NiJ9." + "a" * 755
    with ScriptedServer() as server:
        server.route(
            "POST", "/auth/token", Reply(401, {"Content-Type": "application/json"}, b'{"error":"invalid_client"}')
        )
        config = ServerConfig(api="bcda", base_url=server.url)
        client = BulkDataClient(config, ClientCredentials.from_mapping({"client_id": client_id, "client_secret": "s"}))
        with pytest.raises(AuthenticationError) as caught:
            client.authenticate()

    message = str(caught.value)
    assert "a" * 40 not in message
    assert "'eyJhbGciOiJIUzI1'… (776 characters)" in message
    assert "invalid_client" in message
