"""Connections that refuse a peer on this machine: the loopback rule checked where it cannot be fooled.

``require_secure_url`` refuses a URL whose host stands for this machine (loopback, link-local such as
the instance metadata service, unspecified) when the configured server is elsewhere. It reads the
host's addresses from a cached lookup, and the connection resolves the name again: a name whose
DNS answer changes between the two (DNS rebinding: a public address for the check, 127.0.0.1 for the
connection) would reach the Lambda Runtime API on 127.0.0.1:9001 and land its answer as data. So the
sessions of a client whose server is not on loopback also look at the address each new connection
actually reached, before a byte is sent on it (before TLS too).

A proxy (``HTTPS_PROXY``) goes through requests' own proxy manager, not these pools: the proxy
resolves the names, and a proxy on this machine stays usable.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import requests
from requests.adapters import DEFAULT_POOLBLOCK, DEFAULT_POOLSIZE, HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from bulkfhir._http import reaches_this_machine
from bulkfhir.errors import UnexpectedResponseError


def _checked(sock: socket.socket, host: str, port: int | None) -> socket.socket:
    try:
        peer = str(sock.getpeername()[0])
    except (OSError, IndexError):
        return sock  # not an internet socket: nothing to compare
    if reaches_this_machine(ipaddress.ip_address(peer.split("%", 1)[0])):
        sock.close()
        raise UnexpectedResponseError(
            f"refused to connect to {host}:{port}: the name led to {peer}, an address of this machine, when "
            "the connection was made (the configured server is not on loopback; a DNS answer that changed "
            "since the URL was checked, as in DNS rebinding)"
        )
    return sock


class _RemoteHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _checked(super()._new_conn(), self.host, self.port)


class _RemoteHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _checked(super()._new_conn(), self.host, self.port)


class _RemoteHTTPPool(HTTPConnectionPool):
    ConnectionCls = _RemoteHTTPConnection


class _RemoteHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _RemoteHTTPSConnection


class RemoteOnlyAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections refuse a peer on this machine."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _RemoteHTTPPool, "https": _RemoteHTTPSPool}


def refuse_local_peers(session: requests.Session) -> None:
    """Give the session's plain HTTPAdapters (as :func:`bulkfhir.client.new_session` mounts them) the
    same pools in the remote-only kind; any other transport (a test's) is left as it is."""
    for prefix, adapter in list(session.adapters.items()):
        if type(adapter) is not HTTPAdapter:
            continue
        # requests keeps an adapter's pool settings in these attributes (its pickled state)
        session.mount(
            prefix,
            RemoteOnlyAdapter(
                pool_connections=getattr(adapter, "_pool_connections", DEFAULT_POOLSIZE),
                pool_maxsize=getattr(adapter, "_pool_maxsize", DEFAULT_POOLSIZE),
                max_retries=adapter.max_retries,
                pool_block=getattr(adapter, "_pool_block", DEFAULT_POOLBLOCK),
            ),
        )
