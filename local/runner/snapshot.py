"""--state-dir: the emulated AWS state (table items, landed objects) kept between local runs,
so that a second run is incremental exactly as in a deployed stack."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

from local.runner.world import LocalAws

_SKIPPED_PREFIXES = ("runs/map-results/",)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(type(value).__name__)


def save(aws: LocalAws, state_dir: Path) -> None:
    """Write the table and the landing bucket to ``state_dir`` (replacing what was there)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = aws.table.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    (state_dir / "table.json").write_text(json.dumps(items, default=_plain, indent=1))

    objects_dir = state_dir / "objects"
    shutil.rmtree(objects_dir, ignore_errors=True)
    index: dict[str, dict[str, str]] = {}
    for key in aws.list_keys():
        if key.startswith(_SKIPPED_PREFIXES):
            continue
        aws.download(key, objects_dir / key)
        index[key] = aws.s3.head_object(Bucket=aws.bucket, Key=key).get("Metadata", {})
    (state_dir / "objects.json").write_text(json.dumps(index, indent=1, sort_keys=True))


def restore(aws: LocalAws, state_dir: Path) -> bool:
    """Load a saved state into the fresh emulated AWS; False when ``state_dir`` holds none yet."""
    table_file, index_file = state_dir / "table.json", state_dir / "objects.json"
    if not table_file.exists():
        return False
    items = json.loads(table_file.read_text(), parse_float=Decimal, parse_int=Decimal)
    with aws.table.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)
    index = json.loads(index_file.read_text()) if index_file.exists() else {}
    for key, metadata in index.items():
        with (state_dir / "objects" / key).open("rb") as body:
            aws.s3.upload_fileobj(body, aws.bucket, key, ExtraArgs={"Metadata": metadata})
    return True
