"""One Bulk Data client per source per Lambda container, so its token is reused across invocations
(BCDA's token endpoint allows 1000 calls per 5 minutes per ACO; tokens last 20 minutes)."""

from __future__ import annotations

import threading

from bulkfhir import BulkDataClient, ClientCredentials, ServerConfig, new_session
from ingest.ports import CredentialSource
from ingest.settings import SourceSettings


class ClientCache:
    def __init__(self, credentials: CredentialSource) -> None:
        self._credentials = credentials
        self._clients: dict[str, tuple[ClientCredentials, BulkDataClient]] = {}
        self._lock = threading.Lock()

    def client_for(self, source: SourceSettings) -> BulkDataClient:
        credentials = self._credentials.credentials(source.secret_arn)
        with self._lock:
            cached = self._clients.get(source.name)
            if cached and cached[0] == credentials:
                return cached[1]
            client = BulkDataClient(
                ServerConfig(
                    api=source.api,
                    base_url=source.base_url,
                    token_url=source.token_url,
                    api_version=source.api_version,
                    file_hosts=source.file_hosts,
                ),
                credentials,
                session=new_session(pool_size=max(16, source.download_concurrency)),
            )
            self._clients[source.name] = (credentials, client)
            return client
