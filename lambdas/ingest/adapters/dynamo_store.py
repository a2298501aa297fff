"""DynamoDB: watermarks, leases, open jobs, the run ledger and landed-file records in one table.

Items (docs/architecture.md §4) are keyed ``pk``/``sk``. Every write that guards an invariant is
conditional: a lease is taken only when free or expired, a watermark only moves forward.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from ingest.errors import RunInProgressError
from ingest.payloads import LandedFile
from ingest.ports import Lease, OpenJob


def _source_pk(source: str) -> str:
    return f"SOURCE#{source}"


def _run_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


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
        "pk": _source_pk(source),
        "sk": f"LEASE#{scope}",
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

    def release_lease(self, source: str, scope: str, run_id: str) -> bool:
        try:
            self._table.delete_item(
                Key={"pk": _source_pk(source), "sk": f"LEASE#{scope}"},
                ConditionExpression="run_id = :run",
                ExpressionAttributeValues={":run": run_id},
            )
            return True
        except ClientError as error:
            if _conditional_failed(error):
                return False  # not ours (or already gone): never release another run's lease
            raise

    def get_lease(self, source: str, scope: str) -> Lease | None:
        item = self._table.get_item(Key={"pk": _source_pk(source), "sk": f"LEASE#{scope}"}, ConsistentRead=True).get(
            "Item"
        )
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
        item = self._table.get_item(
            Key={"pk": _source_pk(source), "sk": f"WATERMARK#{scope}"}, ConsistentRead=True
        ).get("Item")
        return str(item["watermark"]) if item and item.get("watermark") else None

    def advance_watermark(self, source: str, scope: str, watermark: str, run_id: str, now: str) -> bool:
        """Move the watermark forward to ``watermark`` (a fixed-width UTC ISO string). True when it now
        equals ``watermark``; False when it already stood later (never moves back)."""
        try:
            self._table.update_item(
                Key={"pk": _source_pk(source), "sk": f"WATERMARK#{scope}"},
                UpdateExpression="SET watermark = :w, run_id = :run, updated_at = :now",
                ConditionExpression="attribute_not_exists(watermark) OR watermark < :w",
                ExpressionAttributeValues={":w": watermark, ":run": run_id, ":now": now},
            )
            return True
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            return self.get_watermark(source, scope) == watermark

    # -- open jobs --------------------------------------------------------------------------

    def get_open_job(self, source: str, scope: str) -> OpenJob | None:
        item = self._table.get_item(Key={"pk": _source_pk(source), "sk": f"JOB#{scope}"}, ConsistentRead=True).get(
            "Item"
        )
        if not item:
            return None
        return OpenJob(
            run_id=str(item["run_id"]),
            job_url=str(item["job_url"]),
            kicked_off_at=item.get("kicked_off_at"),
            since=item.get("since"),
            types=tuple(item.get("types") or ()),
            export=str(item["export"]),
            until=item.get("until"),
            type_filters=tuple(item.get("type_filters") or ()),
            run_date=str(item["run_date"]),
            adopted=bool(item.get("adopted", False)),
        )

    def put_open_job(self, source: str, scope: str, job: OpenJob) -> None:
        item: dict[str, Any] = {
            "pk": _source_pk(source),
            "sk": f"JOB#{scope}",
            "run_id": job.run_id,
            "job_url": job.job_url,
            "export": job.export,
            "types": list(job.types),
            "type_filters": list(job.type_filters),
            "run_date": job.run_date,
            "adopted": job.adopted,
        }
        for name in ("kicked_off_at", "since", "until"):
            if getattr(job, name):
                item[name] = getattr(job, name)
        self._table.put_item(Item=item)

    def clear_open_job(self, source: str, scope: str, run_id: str) -> None:
        try:
            self._table.delete_item(
                Key={"pk": _source_pk(source), "sk": f"JOB#{scope}"},
                ConditionExpression="run_id = :run",
                ExpressionAttributeValues={":run": run_id},
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise

    # -- run ledger -------------------------------------------------------------------------

    def put_run(self, source: str, run_id: str, attributes: dict[str, Any]) -> None:
        self._table.put_item(Item={"pk": _source_pk(source), "sk": f"RUN#{run_id}", "run_id": run_id, **attributes})

    def update_run(self, source: str, run_id: str, attributes: dict[str, Any]) -> None:
        if not attributes:
            return
        names = {f"#a{i}": name for i, name in enumerate(attributes)}
        values = {f":v{i}": value for i, value in enumerate(attributes.values())}
        assignments = ", ".join(f"#a{i} = :v{i}" for i in range(len(attributes)))
        self._table.update_item(
            Key={"pk": _source_pk(source), "sk": f"RUN#{run_id}"},
            UpdateExpression=f"SET {assignments}",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def get_run(self, source: str, run_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"pk": _source_pk(source), "sk": f"RUN#{run_id}"}, ConsistentRead=True).get(
            "Item"
        )
        return _plain(item) if item else None

    # -- landed files -----------------------------------------------------------------------

    def put_landed_file(self, run_id: str, landed: LandedFile) -> None:
        self._table.put_item(Item={"pk": _run_pk(run_id), "sk": f"FILE#{landed.index:05d}", **landed.to_state()})

    def get_landed_file(self, run_id: str, index: int) -> LandedFile | None:
        item = self._table.get_item(Key={"pk": _run_pk(run_id), "sk": f"FILE#{index:05d}"}, ConsistentRead=True).get(
            "Item"
        )
        return _landed(item) if item else None

    def list_landed_files(self, run_id: str) -> list[LandedFile]:
        return [_landed(item) for item in self._query(run_id, "FILE#")]

    def put_file_failure(self, run_id: str, index: int, error: str, message: str, url: str) -> None:
        self._table.put_item(
            Item={
                "pk": _run_pk(run_id),
                "sk": f"FAILURE#{index:05d}",
                "index": index,
                "error": error,
                "message": message[:2000],
                "url": url,
            }
        )

    def first_file_failure(self, run_id: str) -> dict[str, Any] | None:
        items = self._table.query(
            KeyConditionExpression=Key("pk").eq(_run_pk(run_id)) & Key("sk").begins_with("FAILURE#"),
            Limit=1,
            ConsistentRead=True,
        ).get("Items", [])
        return _plain(items[0]) if items else None

    def _query(self, run_id: str, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(_run_pk(run_id)) & Key("sk").begins_with(prefix),
            "ConsistentRead": True,
        }
        while True:
            page = self._table.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _landed(item: dict[str, Any]) -> LandedFile:
    data = _plain(item)
    return LandedFile(**{name: data[name] for name in LandedFile.__dataclass_fields__})
