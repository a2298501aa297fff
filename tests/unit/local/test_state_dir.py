"""--state-dir: atomic saves (a kill at every step leaves the old state or the new one, whole),
validated loads (one message saying what is wrong and how to recover), nothing the ledger lists
ever deleted. Against moto's S3 and DynamoDB; no synthesis."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.runner.snapshot import (
    CURRENT,
    SavedState,
    StateDirError,
    check_writable,
    current_objects,
    ledger_keys,
    load,
    restore,
    save,
    save_steps,
)

REGION = "us-east-1"


class MiniAws:
    """The two resources a state directory holds (the landing bucket, the state table), in moto,
    with the names LocalAws gives the runner."""

    worlds = 0

    def __init__(self) -> None:
        MiniAws.worlds += 1  # a fresh bucket and table each: a new local run's emulated AWS
        self.bucket = name = f"landing-{MiniAws.worlds}"
        self.s3 = boto3.client("s3", region_name=REGION)
        self.s3.create_bucket(Bucket=self.bucket)
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        self.table = dynamodb.Table(name)

    def list_keys(self, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def download(self, key: str, target: Path, on_bytes: Any = None) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as body:
            self.s3.download_fileobj(self.bucket, key, body, Callback=on_bytes)

    def land_run(self, run: str, files: int, watermark: str) -> None:
        """What a run leaves: landed files (ledger items naming them), a manifest, a watermark."""
        for index in range(files):
            key = f"fhir/src/ExplanationOfBenefit/run_date=2026-01-01/{run}/ExplanationOfBenefit-{index:04d}.ndjson.gz"
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=f"{run}:{index}".encode() * 50,
                               Metadata={"run-id": run})  # fmt: skip
            self.table.put_item(Item={"pk": f"RUN#{run}", "sk": f"FILE#{index:05d}", "key": key, "bytes": 1})
        manifest = f"runs/src/{run}/manifest.json"
        self.s3.put_object(Bucket=self.bucket, Key=manifest, Body=b"{}")
        self.s3.put_object(Bucket=self.bucket, Key=f"runs/map-results/{run}/x.json", Body=b"{}")
        self.table.put_item(Item={"pk": "LEDGER#src", "sk": f"RUN#{run}", "manifest_key": manifest})
        self.table.put_item(Item={"pk": "WATERMARK#src", "sk": "Group/all", "at": watermark})


@pytest.fixture
def aws() -> Iterator[Any]:
    os.environ.update({"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"})
    with mock_aws():
        yield MiniAws


def _seen(saved: SavedState | None) -> tuple[Any, ...]:
    """What a run would restore: the items and every object's bytes."""
    assert saved is not None
    items = sorted(json.dumps(i, sort_keys=True, default=str) for i in saved.items)
    objects = {key: saved.object_path(key).read_bytes() for key in saved.objects}
    return tuple(items), objects


def _state_after_one_run(aws: Any, state_dir: Path) -> SavedState:
    first = aws()
    first.land_run("run-1", files=3, watermark="2026-01-01")
    save(first, state_dir, None, {"loads": []})
    saved = load(state_dir)
    assert saved is not None
    return saved


def test_a_saved_state_restores_whole(aws: Any, tmp_path: Path) -> None:
    saved = _state_after_one_run(aws, tmp_path / "state")
    world = aws()
    restore(world, saved)

    assert len(saved.objects) == 4  # 3 landed files and the manifest; map results are not state
    assert world.list_keys() == sorted(saved.objects)
    assert len(world.table.scan()["Items"]) == len(saved.items) == 5
    assert saved.timeline == {"loads": []}


def _second_run(aws: Any, previous: SavedState) -> Any:
    world = aws()
    restore(world, previous)
    world.land_run("run-2", files=2, watermark="2026-02-01")
    return world


def test_a_kill_after_any_step_of_the_save_leaves_the_old_or_the_new_state_whole(aws: Any, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    old = _seen(_state_after_one_run(aws, reference))
    complete = tmp_path / "complete"
    shutil.copytree(reference, complete)
    previous = load(complete)
    assert previous is not None
    steps = list(save_steps(_second_run(aws, previous), complete, previous, {"loads": [1]}))
    new = _seen(load(complete))
    # a folder, the table, 7 objects (3 + 2 files, 2 manifests), the index, the timeline, then the switch
    assert len(steps) == 14 and steps[-3:] == ["renamed", "switched", "pruned"]
    assert os.stat(complete / "generations" / "2" / "objects" / min(previous.objects)).st_nlink == 2  # linked

    for stop_after in range(len(steps)):
        state_dir = tmp_path / f"killed-after-{stop_after}"
        shutil.copytree(reference, state_dir)
        previous = load(state_dir)
        assert previous is not None
        saving = save_steps(_second_run(aws, previous), state_dir, previous, {"loads": [1]})
        for _ in range(stop_after + 1):
            next(saving)  # then nothing more: the process died here

        after_kill = load(state_dir)
        expected = new if stop_after >= steps.index("switched") else old
        assert _seen(after_kill) == expected, f"after {steps[stop_after]}"
        assert after_kill is not None and ledger_keys(after_kill.items) <= after_kill.objects.keys()

        # and the next run's save recovers from whatever the kill left
        save(_second_run(aws, after_kill), state_dir, after_kill, {"loads": [1]})
        assert _seen(load(state_dir)) == new
        assert {p.name for p in (state_dir / "generations").iterdir()} <= {"1", "2", "3"}  # leftovers pruned


def test_a_save_never_switches_in_a_state_that_forgets_a_landed_file(aws: Any, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    saved = _state_after_one_run(aws, state_dir)
    world = aws()
    restore(world, saved)
    lost = sorted(k for k in saved.objects if k.startswith("fhir/"))[0]
    world.s3.delete_object(Bucket=world.bucket, Key=lost)

    with pytest.raises(StateDirError, match="not saved: 1 objects the ledger lists are not in the bucket"):
        save(world, state_dir, saved)

    assert _seen(load(state_dir)) == _seen(saved)


def _first_layout(aws: Any, state_dir: Path) -> None:
    """A directory as the first --state-dir layout wrote it."""
    world = aws()
    world.land_run("run-1", files=28, watermark="2026-01-01")
    state_dir.mkdir()
    (state_dir / "table.json").write_text(json.dumps(world.table.scan()["Items"], default=str))
    index = {}
    for key in world.list_keys():
        if not key.startswith("runs/map-results/"):
            world.download(key, state_dir / "objects" / key)
            index[key] = world.s3.head_object(Bucket=world.bucket, Key=key)["Metadata"]
    (state_dir / "objects.json").write_text(json.dumps(index))


def test_the_first_layout_is_read_and_converted_without_losing_an_object(aws: Any, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    _first_layout(aws, state_dir)
    saved = load(state_dir)
    assert saved is not None and len(saved.objects) == 29

    world = aws()
    restore(world, saved)
    world.land_run("run-2", files=2, watermark="2026-02-01")
    save(world, state_dir, saved)

    converted = load(state_dir)
    assert converted is not None and len(converted.objects) == 32
    assert (state_dir / CURRENT).read_text().strip() == "1"
    assert not (state_dir / "objects.json").exists()
    assert current_objects(state_dir) == state_dir / "generations" / "1" / "objects"


def test_a_missing_objects_json_is_refused_not_taken_for_an_empty_bucket(aws: Any, tmp_path: Path) -> None:
    # it used to restore no object, then its save deleted all 29 while the ledger still listed them
    state_dir = tmp_path / "state"
    _first_layout(aws, state_dir)
    (state_dir / "objects.json").unlink()

    with pytest.raises(StateDirError) as refused:
        load(state_dir)

    message = str(refused.value)
    assert "objects.json is missing, although the ledger lists 29 landed objects" in message
    assert "Nothing was changed" in message and "new --state-dir" in message
    assert len(list((state_dir / "objects").rglob("*.gz"))) == 28


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda d: (d / "table.json").write_text((d / "table.json").read_text()[:100]), "table.json is not valid JSON"),
        (lambda d: (d / "objects.json").write_text("garbage"), "objects.json is not valid JSON"),
        (lambda d: (d / "objects.json").write_text("[]"), "objects.json is not a JSON object"),
        (lambda d: (d / "table.json").write_text('{"a": 1}'), "table.json is not a list of table items"),
        (lambda d: next((d / "objects").rglob("*.gz")).unlink(), "the object objects/fhir/"),
    ],
)
def test_a_damaged_first_layout_says_what_is_wrong(aws: Any, tmp_path: Path, damage: Any, said: str) -> None:
    state_dir = tmp_path / "state"
    _first_layout(aws, state_dir)
    damage(state_dir)

    with pytest.raises(StateDirError, match=said):
        load(state_dir)


def test_a_damaged_generation_points_at_the_intact_one_before_it(aws: Any, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    saved = _state_after_one_run(aws, state_dir)
    save(_second_run(aws, saved), state_dir, saved)
    (state_dir / "generations" / "2" / "table.json").write_text("[{")

    with pytest.raises(StateDirError) as refused:
        load(state_dir)

    assert "generations/2/table.json is not valid JSON" in str(refused.value)
    assert f"`echo 1 > {state_dir / CURRENT}` goes back to it" in str(refused.value)
    (state_dir / CURRENT).write_text("1\n")
    assert _seen(load(state_dir)) == _seen(saved)


def test_a_state_dir_that_cannot_be_written_is_refused_before_the_run(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")

    with pytest.raises(StateDirError, match="is a file, not a directory"):
        check_writable(a_file / "state")
    with pytest.raises(StateDirError, match="is a file, not a directory"):
        load(a_file)
    with pytest.raises(StateDirError, match="is not writable"):
        check_writable(Path("/sys/kernel/bulk-ingest-state"))  # read-only even for root
    check_writable(tmp_path / "new" / "state")
    assert list(tmp_path.iterdir()) == [a_file]


@pytest.mark.parametrize(
    ("steps", "said"),
    [(["table", "renamed"], "keeps the state it had before this run"), (["renamed", "switched"], "holds this run's")],
)
def test_ctrl_c_during_the_save_says_which_state_the_directory_holds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, steps: list[str], said: str
) -> None:
    # it used to say "left as it was" after rewriting half of it
    from local.runner import local_run

    def interrupted_save(*_args: Any) -> Iterator[str]:
        yield from steps
        raise KeyboardInterrupt

    monkeypatch.setattr(local_run, "save_steps", interrupted_save)
    with pytest.raises(local_run.Interrupted) as caught:
        local_run._save(None, tmp_path, None, None, lambda _line: None)  # type: ignore[arg-type]
    assert said in caught.value.state_note
