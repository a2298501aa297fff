"""DynamoDB: watermarks, leases, open jobs, server-job claims, the run ledger and landed-file records.

One table keyed ``pk``/``sk`` (docs/architecture.md §4). Each kind of item has a partition-key prefix
of its own, so that IAM can scope every function's reads and writes to the kinds it owns
(``dynamodb:LeadingKeys``): the download function, for one, can touch ``RUN#`` items and nothing else.
Every write that guards an invariant is conditional: a lease is taken only when free or expired, a
watermark only moves forward, a server job is claimed by one run.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from ingest.errors import RunInProgressError
from ingest.payloads import LandedFile
from ingest.ports import Lease, OpenJob, ServerJob

#: The partition-key prefix of each kind of item (the contract with infra's IAM conditions).
WATERMARK = "WATERMARK#"
LEASE = "LEASE#"
OPEN_JOB = "OPENJOB#"
SERVER_JOB = "SERVERJOB#"
LEDGER = "LEDGER#"
RUN = "RUN#"
KEY_PREFIXES = (WATERMARK, LEASE, OPEN_JOB, SERVER_JOB, LEDGER, RUN)


def _conditional_failed(error: ClientError) -> bool:
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def _plain(value: Any) -> Any:
    """DynamoDB returns numbers as Decimal; state and JSON want int/float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _lease_item(source: str, scope: str, run_id: str, execution: str, now_epoch: int, seconds: int) -> dict[str, Any]:
    return {
        "pk": LEASE + source,
        "sk": scope,
        "run_id": run_id,
        "execution": execution,
        "acquired_at_epoch": now_epoch,
        "expires_at_epoch": now_epoch + seconds,
    }


class DynamoRunStore:
    def __init__(self, table: Any) -> None:
        self._table = table  # a boto3 DynamoDB Table resource

    # -- leases -----------------------------------------------------------------------------

    def acquire_lease(self, source: str, scope: str, run_id: str, execution: str, now_epoch: int, seconds: int) -> None:
        try:
            self._table.put_item(
                Item=_lease_item(source, scope, run_id, execution, now_epoch, seconds),
                # Free, expired (TTL deletion is lazy), or already ours (a retried Start run). "Ours" is
                # the execution, not the run id: a run resuming an open job reuses that job's run id,
                # and must not slip past a live execution that is still working on it.
                ConditionExpression="attribute_not_exists(pk) OR expires_at_epoch < :now OR execution = :execution",
                ExpressionAttributeValues={":now": now_epoch, ":execution": execution},
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            holder = self.get_lease(source, scope)
            detail = (
                f"run {holder.run_id} (execution {holder.execution}) holds it until epoch {holder.expires_at_epoch}"
                if holder
                else "another run holds it"
            )
            raise RunInProgressError(
                f"another run of source {source!r} scope {scope!r} is in progress: {detail}. Wait for it to "
                "finish, or stop that execution: a run started after it has stopped takes its lease over"
            ) from None

    def take_over_lease(
        self, source: str, scope: str, run_id: str, execution: str, now_epoch: int, seconds: int, ended: Lease
    ) -> bool:
        """Replace the lease of an execution that has ended without releasing it. False when the lease
        changed hands meanwhile (another run took it over first)."""
        try:
            self._table.put_item(
                Item={
                    **_lease_item(source, scope, run_id, execution, now_epoch, seconds),
                    "took_over_from": ended.execution,
                },
                ConditionExpression="execution = :ended AND run_id = :ended_run",
                ExpressionAttributeValues={":ended": ended.execution, ":ended_run": ended.run_id},
            )
            return True
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            return False

    def release_lease(self, source: str, scope: str, run_id: str, execution: str) -> bool:
        """Release the lease only while this execution of this run holds it. The run id alone is not
        enough: a run that resumes an open job keeps that job's run id, so a redrive of the stopped
        execution it took the lease over from would otherwise free the live run's lease."""
        try:
            self._table.delete_item(
                Key={"pk": LEASE + source, "sk": scope},
                ConditionExpression="run_id = :run AND execution = :execution",
                ExpressionAttributeValues={":run": run_id, ":execution": execution},
            )
            return True
        except ClientError as error:
            if _conditional_failed(error):
                return False  # not ours (or already gone): never release another run's lease
            raise

    def get_lease(self, source: str, scope: str) -> Lease | None:
        item = self._get(LEASE + source, scope)
        if not item:
            return None
        return Lease(
            run_id=str(item["run_id"]),
            execution=str(item.get("execution", "")),
            acquired_at=str(_plain(item.get("acquired_at_epoch", ""))),
            expires_at_epoch=int(item["expires_at_epoch"]),
        )

    # -- watermarks -------------------------------------------------------------------------

    def get_watermark(self, source: str, scope: str) -> str | None:
        item = self._get(WATERMARK + source, scope)
        return str(item["watermark"]) if item and item.get("watermark") else None

    def advance_watermark(self, source: str, scope: str, watermark: str, run_id: str, now: str) -> bool:
        """Move the watermark forward to ``watermark`` (a fixed-width UTC ISO string). True when it now
        equals ``watermark``; False when it already stood later (never moves back)."""
        try:
            self._table.update_item(
                Key={"pk": WATERMARK + source, "sk": scope},
                UpdateExpression="SET watermark = :w, run_id = :run, updated_at = :now",
                ConditionExpression="attribute_not_exists(watermark) OR watermark < :w",
                ExpressionAttributeValues={":w": watermark, ":run": run_id, ":now": now},
            )
            return True
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            return self.get_watermark(source, scope) == watermark

    def list_watermarks(self) -> list[dict[str, Any]]:
        """Every source's and scope's watermark (for operators; a scan of the watermark items)."""
        found = [
            {
                "source": str(item["pk"]).removeprefix(WATERMARK),
                "scope": str(item["sk"]),
                "watermark": item.get("watermark"),
                "run_id": item.get("run_id"),
                "updated_at": item.get("updated_at"),
            }
            for item in self._scan(Attr("pk").begins_with(WATERMARK))
        ]
        return sorted(found, key=lambda w: (w["source"], w["scope"]))

    # -- open jobs --------------------------------------------------------------------------

    def get_open_job(self, source: str, scope: str) -> OpenJob | None:
        item = self._get(OPEN_JOB + source, scope)
        if not item:
            return None
        return OpenJob(
            run_id=str(item["run_id"]),
            job_url=str(item["job_url"]),
            kicked_off_at=item.get("kicked_off_at"),
            request=dict(_plain(item.get("request") or {})),
            run_date=str(item["run_date"]),
            adopted=bool(item.get("adopted", False)),
        )

    def put_open_job(self, source: str, scope: str, job: OpenJob) -> None:
        item: dict[str, Any] = {
            "pk": OPEN_JOB + source,
            "sk": scope,
            "run_id": job.run_id,
            "job_url": job.job_url,
            "request": job.request,
            "run_date": job.run_date,
            "adopted": job.adopted,
        }
        if job.kicked_off_at:
            item["kicked_off_at"] = job.kicked_off_at
        self._table.put_item(Item=item)

    def clear_open_job(self, source: str, scope: str, run_id: str) -> None:
        try:
            self._table.delete_item(
                Key={"pk": OPEN_JOB + source, "sk": scope},
                ConditionExpression="run_id = :run",
                ExpressionAttributeValues={":run": run_id},
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise

    # -- server jobs --------------------------------------------------------------------------

    def claim_server_job(self, job: ServerJob) -> bool:
        """Claim a server job for ``job.run_id``: True when it was nobody's or already this run's."""
        try:
            self._table.put_item(
                Item=_server_job_item(job),
                ConditionExpression="attribute_not_exists(pk) OR run_id = :run",
                ExpressionAttributeValues={":run": job.run_id},
            )
            return True
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            return False

    def replace_server_job(self, job: ServerJob) -> ServerJob | None:
        """Claim a server job for ``job.run_id`` whoever held it; returns the claim it replaced."""
        old = self._table.put_item(Item=_server_job_item(job), ReturnValues="ALL_OLD").get("Attributes")
        return _server_job(job.job_url, old) if old else None

    def get_server_job(self, job_url: str) -> ServerJob | None:
        item = self._get(SERVER_JOB + job_url, "JOB")
        return _server_job(job_url, item) if item else None

    # -- run ledger -------------------------------------------------------------------------

    def put_run(self, source: str, run_id: str, attributes: dict[str, Any]) -> None:
        self._table.put_item(Item={"pk": LEDGER + source, "sk": RUN + run_id, "run_id": run_id, **attributes})

    def update_run(self, source: str, run_id: str, attributes: dict[str, Any], remove: tuple[str, ...] = ()) -> None:
        """Set ``attributes`` of a run's ledger entry, and drop those named in ``remove``."""
        if not attributes and not remove:
            return
        names = {f"#a{i}": name for i, name in enumerate(attributes)}
        names.update({f"#r{i}": name for i, name in enumerate(remove)})
        values = {f":v{i}": value for i, value in enumerate(attributes.values())}
        expression = ("SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(attributes)))) if attributes else ""
        if remove:
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
        self._table.update_item(
            Key={"pk": LEDGER + source, "sk": RUN + run_id},
            UpdateExpression=expression.strip(),
            ExpressionAttributeNames=names,
            **({"ExpressionAttributeValues": values} if values else {}),
        )

    def get_run(self, source: str, run_id: str) -> dict[str, Any] | None:
        item = self._get(LEDGER + source, RUN + run_id)
        return _plain(item) if item else None

    def list_runs(self, source: str, limit: int) -> list[dict[str, Any]]:
        """The run ledger of a source, newest first (run ids sort by start time)."""
        items = self._table.query(
            KeyConditionExpression=Key("pk").eq(LEDGER + source) & Key("sk").begins_with(RUN),
            ScanIndexForward=False,
            Limit=limit,
            ConsistentRead=True,
        ).get("Items", [])
        return [_plain({k: v for k, v in item.items() if k not in ("pk", "sk")}) for item in items]

    # -- landed files, download attempts, failures ---------------------------------------------

    def put_landed_file(self, run_id: str, landed: LandedFile) -> None:
        self._table.put_item(Item={"pk": RUN + run_id, "sk": f"FILE#{landed.index:05d}", **landed.to_state()})

    def mark_curated(self, run_id: str, index: int, sha256: str, rows: dict[str, int]) -> bool:
        """Record that a landed file's claims are curated from exactly these bytes. False when the
        record is not of those bytes (the file was landed again meanwhile)."""
        try:
            self._table.update_item(
                Key={"pk": RUN + run_id, "sk": f"FILE#{index:05d}"},
                UpdateExpression="SET curated_sha256 = :sha, curated_rows = :rows",
                ConditionExpression="sha256 = :sha",
                ExpressionAttributeValues={":sha": sha256, ":rows": rows},
            )
            return True
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            return False

    def all_runs(self, source: str) -> list[dict[str, Any]]:
        """Every run of a source in the ledger, oldest first."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(LEDGER + source) & Key("sk").begins_with(RUN),
            "ConsistentRead": True,
        }
        while True:
            page = self._table.query(**kwargs)
            items.extend(_plain({k: v for k, v in item.items() if k not in ("pk", "sk")}) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get_landed_file(self, run_id: str, index: int) -> LandedFile | None:
        item = self._get(RUN + run_id, f"FILE#{index:05d}")
        return _landed(item) if item else None

    def list_landed_files(self, run_id: str) -> list[LandedFile]:
        return [_landed(item) for item in self._query(run_id, "FILE#")]

    def count_download(self, run_id: str, index: int) -> int:
        """Count one more download request of a file; returns the count including this one."""
        response = self._table.update_item(
            Key={"pk": RUN + run_id, "sk": f"DOWNLOADS#{index:05d}"},
            UpdateExpression="ADD downloads :one",
            ExpressionAttributeValues={":one": 1},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["downloads"])

    def downloads_per_file(self, run_id: str) -> dict[int, int]:
        """The download requests counted so far (``count_download``), by file index."""
        return {int(item["sk"].split("#", 1)[1]): int(item["downloads"]) for item in self._query(run_id, "DOWNLOADS#")}

    def put_file_failure(
        self, run_id: str, index: int, error: str, message: str, url: str, at: str, step: str = "Download file"
    ) -> None:
        """Why a file's step failed (``step``: the state's name), for Record the failure: a Distributed
        Map reports only that too many items failed."""
        self._table.put_item(
            Item={
                "pk": RUN + run_id,
                "sk": f"FAILURE#{index:05d}",
                "index": index,
                "step": step,
                "error": error,
                "message": message[:2000],
                "url": url,
                "failed_at": at,
            }
        )

    def clear_file_failure(self, run_id: str, index: int, url: str | None = None) -> None:
        """Forget a file's failure; with ``url``, only a failure of that file (a claims rebuild curates
        files of many runs, whose indexes repeat)."""
        condition = {
            "ConditionExpression": "attribute_not_exists(pk) OR #url = :url",
            "ExpressionAttributeNames": {"#url": "url"},
            "ExpressionAttributeValues": {":url": url},
        }
        try:
            self._table.delete_item(
                Key={"pk": RUN + run_id, "sk": f"FAILURE#{index:05d}"}, **(condition if url is not None else {})
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise

    def file_failures(self, run_id: str) -> list[dict[str, Any]]:
        return [_plain(item) for item in self._query(run_id, "FAILURE#")]

    # -- plumbing -------------------------------------------------------------------------------

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"pk": pk, "sk": sk}, ConsistentRead=True).get("Item")
        return dict(item) if item else None

    def _query(self, run_id: str, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(RUN + run_id) & Key("sk").begins_with(prefix),
            "ConsistentRead": True,
        }
        while True:
            page = self._table.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _scan(self, condition: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"FilterExpression": condition}
        while True:
            page = self._table.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _server_job_item(job: ServerJob) -> dict[str, Any]:
    return {
        "pk": SERVER_JOB + job.job_url,
        "sk": "JOB",
        "source": job.source,
        "run_id": job.run_id,
        "request_url": job.request_url,
        "started_by_us": job.started_by_us,
    }


def _server_job(job_url: str, item: dict[str, Any]) -> ServerJob:
    return ServerJob(
        job_url=job_url,
        source=str(item["source"]),
        run_id=str(item["run_id"]),
        request_url=str(item.get("request_url", "")),
        started_by_us=bool(item.get("started_by_us", False)),
    )


def _landed(item: dict[str, Any]) -> LandedFile:
    data = _plain(item)
    return LandedFile(**{name: data[name] for name in LandedFile.__dataclass_fields__ if name in data})
