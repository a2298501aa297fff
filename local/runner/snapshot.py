"""--state-dir: the emulated AWS state (table items, landed objects, the emulator's timeline) kept
between local runs, so that a second run is incremental exactly as in a deployed stack.

Layout::

    DIR/CURRENT                      the name of the generation in force (one line)
    DIR/generations/<n>/table.json   the table's items
    DIR/generations/<n>/objects.json {key: {"metadata": {...}, "bytes": N}} of the landing bucket
    DIR/generations/<n>/objects/<key> each object's bytes, in the S3 layout
    DIR/generations/<n>/emulator-timeline.json   (built-in emulator runs only)

A save never touches the generation in force: it builds the next one aside (unchanged objects are
hard links, not copies), checks that it holds every object the ledger lists, renames it into place
and then switches ``CURRENT`` with one atomic rename. A run's state is in force whole or not at all,
whenever the process dies. Only then are older generations removed (the one before stays, as a way
back). Loading validates everything a run would rely on and says what is wrong and how to recover.

Directories of the first layout (``table.json``, ``objects.json`` and ``objects/`` at the top) are
read as they are and converted by the next save.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local.arguments import ArgumentProblem, writable_directory
from local.runner.errors import LocalRunError

if TYPE_CHECKING:
    from local.runner.world import LocalAws

CURRENT = "CURRENT"
GENERATIONS = "generations"
TABLE, INDEX, OBJECTS, TIMELINE = "table.json", "objects.json", "objects", "emulator-timeline.json"
#: What the bucket holds that is not state: the Distributed Map's result files, rewritten each run.
_SKIPPED_PREFIXES = ("runs/map-results/",)
_NEW_PREFIX = ".new-"


class StateDirError(LocalRunError):
    """The state directory cannot be used: what is wrong, and how to recover."""


@dataclass
class SavedState:
    """A validated generation of a state directory."""

    state_dir: Path
    #: the folder holding table.json, objects.json and objects/
    root: Path
    #: its name under generations/ (None: the first layout, at the top of the directory)
    generation: str | None
    items: list[dict[str, Any]]
    objects: dict[str, dict[str, Any]]
    timeline: dict[str, Any] | None
    #: key -> ETag in the emulated bucket once restored: what a save can link instead of copy
    restored_etags: dict[str, str] = field(default_factory=dict)

    def object_path(self, key: str) -> Path:
        return self.root / OBJECTS / key


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(type(value).__name__)


# -- loading -----------------------------------------------------------------------------------


def _damaged(state_dir: Path, what: str, way_back: str | None = None) -> StateDirError:
    recover = way_back or (
        f"restore {state_dir} from a backup, or start over with a new --state-dir (the next run then pulls "
        "the full history again)"
    )
    return StateDirError(f"the state directory {state_dir} is damaged: {what}. Nothing was changed; {recover}")


def _read_json(state_dir: Path, path: Path, way_back: str | None) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _damaged(state_dir, f"{path.relative_to(state_dir)} is missing", way_back) from None
    except (OSError, UnicodeDecodeError) as error:
        raise _damaged(state_dir, f"{path.relative_to(state_dir)} cannot be read ({error})", way_back) from None
    try:
        return json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except ValueError as error:
        raise _damaged(state_dir, f"{path.relative_to(state_dir)} is not valid JSON ({error})", way_back) from None


def ledger_keys(items: list[dict[str, Any]]) -> set[str]:
    """The objects the table says landed: every landed file, every run manifest."""
    keys = set()
    for item in items:
        if str(item.get("sk", "")).startswith("FILE#") and isinstance(item.get("key"), str):
            keys.add(item["key"])
        if str(item.get("pk", "")).startswith("LEDGER#") and isinstance(item.get("manifest_key"), str):
            keys.add(item["manifest_key"])
    return keys


def _generation_names(state_dir: Path) -> list[str]:
    folder = state_dir / GENERATIONS
    if not folder.is_dir():
        return []
    return sorted((p.name for p in folder.iterdir() if p.name.isdigit()), key=int)


def _way_back(state_dir: Path, broken: str) -> str | None:
    older = [name for name in _generation_names(state_dir) if int(name) < int(broken)]
    if not older:
        return None
    return (
        f"the previous state is intact in {state_dir / GENERATIONS / older[-1]}: "
        f"`echo {older[-1]} > {state_dir / CURRENT}` goes back to it (the next run then fetches again what "
        "the later run had landed)"
    )


def load(state_dir: Path) -> SavedState | None:
    """The state in force in ``state_dir``, validated; None when it holds none yet."""
    if not state_dir.exists():
        return None
    if not state_dir.is_dir():
        raise StateDirError(f"--state-dir {state_dir} is a file, not a directory: name a directory")
    current = state_dir / CURRENT
    if current.exists():
        try:
            name = current.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise _damaged(state_dir, f"{CURRENT} cannot be read ({error})") from None
        if not name.isdigit() or not (state_dir / GENERATIONS / name).is_dir():
            raise _damaged(
                state_dir,
                f"{CURRENT} names generation {name[:40]!r}, which is not under {GENERATIONS}/",
                _way_back(state_dir, name) if name.isdigit() else None,
            )
        return _load_generation(state_dir, state_dir / GENERATIONS / name, name, _way_back(state_dir, name))
    if (state_dir / TABLE).exists() or (state_dir / INDEX).exists() or (state_dir / OBJECTS).exists():
        return _load_generation(state_dir, state_dir, None, None)
    return None


def _load_generation(state_dir: Path, root: Path, name: str | None, way_back: str | None) -> SavedState:
    items = _read_json(state_dir, root / TABLE, way_back)
    if not isinstance(items, list) or not all(isinstance(i, dict) and "pk" in i and "sk" in i for i in items):
        raise _damaged(state_dir, f"{(root / TABLE).relative_to(state_dir)} is not a list of table items", way_back)
    listed = ledger_keys(items)
    if not (root / INDEX).exists() and listed:
        raise _damaged(
            state_dir,
            f"{(root / INDEX).relative_to(state_dir)} is missing, although the ledger lists {len(listed)} "
            "landed objects (a run now would forget them)",
            way_back,
        )
    index = _read_json(state_dir, root / INDEX, way_back) if (root / INDEX).exists() else {}
    if not isinstance(index, dict):
        raise _damaged(state_dir, f"{(root / INDEX).relative_to(state_dir)} is not a JSON object", way_back)
    objects: dict[str, dict[str, Any]] = {}
    for key, entry in index.items():
        # the first layout kept only the metadata
        entry = entry if isinstance(entry, dict) and "metadata" in entry else {"metadata": entry}  # noqa: PLW2901
        if not isinstance(entry["metadata"], dict):
            raise _damaged(state_dir, f"the index entry of {key} is not an object", way_back)
        objects[key] = {"metadata": {str(k): str(v) for k, v in entry["metadata"].items()}, "bytes": entry.get("bytes")}
    missing = sorted(listed - objects.keys())
    if missing:
        what = f"{len(missing)} objects the ledger lists are not in the index (the first: {missing[0]})"
        raise _damaged(state_dir, what, way_back)
    for key, entry in objects.items():
        path = root / OBJECTS / key
        try:
            size = path.stat().st_size
        except OSError:
            raise _damaged(state_dir, f"the object {path.relative_to(state_dir)} is missing", way_back) from None
        if entry["bytes"] is not None and size != int(entry["bytes"]):
            raise _damaged(
                state_dir, f"the object {path.relative_to(state_dir)} has {size} bytes, not {entry['bytes']}", way_back
            )
    timeline = _read_json(state_dir, root / TIMELINE, way_back) if (root / TIMELINE).exists() else None
    if timeline is not None and not isinstance(timeline, dict):
        raise _damaged(state_dir, f"{(root / TIMELINE).relative_to(state_dir)} is not a JSON object", way_back)
    plain_timeline = json.loads(json.dumps(timeline, default=_plain)) if timeline is not None else None
    return SavedState(state_dir, root, name, items, objects, plain_timeline)


def check_writable(state_dir: Path) -> None:
    """Fail before the run, not after it, when the state could not be saved."""
    try:
        writable_directory(state_dir, "--state-dir")
    except ArgumentProblem as problem:
        raise StateDirError(f"{problem}: a run could not keep its state there") from None


# -- restoring ---------------------------------------------------------------------------------


def restore(aws: LocalAws, saved: SavedState, on_bytes: Callable[[int], None] | None = None) -> None:
    """Load a saved state into the fresh emulated AWS; ``on_bytes(n)`` as the objects' bytes go in."""
    with aws.table.batch_writer() as batch:
        for item in saved.items:
            batch.put_item(Item=item)
    for key, entry in saved.objects.items():
        with saved.object_path(key).open("rb") as body:
            aws.s3.upload_fileobj(body, aws.bucket, key, ExtraArgs={"Metadata": entry["metadata"]}, Callback=on_bytes)
        saved.restored_etags[key] = aws.s3.head_object(Bucket=aws.bucket, Key=key)["ETag"]


# -- saving ------------------------------------------------------------------------------------


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(path: Path, document: Any) -> None:
    with path.open("w", encoding="utf-8") as out:
        json.dump(document, out, default=_plain, indent=1, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())


def _table_items(aws: LocalAws) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = aws.table.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _save_object(
    aws: LocalAws, key: str, target: Path, previous: SavedState | None, on_bytes: Callable[[int], None] | None
) -> dict[str, Any]:
    """One object into the generation being built: a hard link to the previous generation's file
    when the bucket still holds what was restored from it, else a download."""
    head = aws.s3.head_object(Bucket=aws.bucket, Key=key)
    target.parent.mkdir(parents=True, exist_ok=True)
    if previous is not None and previous.restored_etags.get(key) == head["ETag"]:
        try:
            os.link(previous.object_path(key), target)
        except OSError:  # another file system, or one without hard links
            shutil.copyfile(previous.object_path(key), target)
    else:
        aws.download(key, target, on_bytes)
        with target.open("rb") as written:
            os.fsync(written.fileno())
    return {"metadata": head.get("Metadata", {}), "bytes": target.stat().st_size}


def save_steps(
    aws: LocalAws,
    state_dir: Path,
    previous: SavedState | None = None,
    timeline: dict[str, Any] | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[str]:
    """Save the emulated table and bucket as the state directory's next generation, one step at a
    time: yields after each step what it did (a test stops after any of them, as a kill would). The
    new state is in force after the step "switched"; nothing before it changes what a load sees."""
    generations = state_dir / GENERATIONS
    generations.mkdir(parents=True, exist_ok=True)
    staging = generations / f"{_NEW_PREFIX}{uuid.uuid4().hex}"
    staging.mkdir()
    yield "staging folder"
    items = _table_items(aws)
    _write(staging / TABLE, items)
    yield "table"
    index: dict[str, dict[str, Any]] = {}
    for key in aws.list_keys():
        if not key.startswith(_SKIPPED_PREFIXES):
            index[key] = _save_object(aws, key, staging / OBJECTS / key, previous, on_bytes)
            yield f"object {key}"
    missing = sorted(ledger_keys(items) - index.keys())
    if missing:
        # Never switch in a state that forgets what the ledger says landed.
        shutil.rmtree(staging, ignore_errors=True)
        raise StateDirError(
            f"not saved: {len(missing)} objects the ledger lists are not in the bucket (the first: {missing[0]}); "
            f"{state_dir} keeps the state it had"
        )
    _write(staging / INDEX, index)
    yield "index"
    if timeline is not None:
        _write(staging / TIMELINE, timeline)
        yield "timeline"
    _fsync(staging)
    existing = [int(name) for name in _generation_names(state_dir)]
    name = str(max(existing, default=0) + 1)
    os.rename(staging, generations / name)
    _fsync(generations)
    yield "renamed"
    pointer = state_dir / f"{CURRENT}{_NEW_PREFIX}{uuid.uuid4().hex}"
    pointer.write_text(name + "\n", encoding="utf-8")
    with pointer.open("rb") as written:
        os.fsync(written.fileno())
    os.replace(pointer, state_dir / CURRENT)
    _fsync(state_dir)
    yield "switched"
    _prune(state_dir, keep={name, previous.generation if previous and previous.generation else name})
    yield "pruned"


def _prune(state_dir: Path, keep: set[str]) -> None:
    """After the switch: older generations, abandoned saves and the first layout's files go."""
    for path in (state_dir / GENERATIONS).iterdir():
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)
    for leftover in state_dir.iterdir():
        if leftover.name.startswith(f"{CURRENT}{_NEW_PREFIX}"):
            leftover.unlink(missing_ok=True)
    for first_layout in (TABLE, INDEX, TIMELINE):
        (state_dir / first_layout).unlink(missing_ok=True)
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(state_dir / OBJECTS)


def save(
    aws: LocalAws, state_dir: Path, previous: SavedState | None = None, timeline: dict[str, Any] | None = None
) -> None:
    """Save the emulated table and bucket into ``state_dir`` (atomically: see the module's doc)."""
    for _step in save_steps(aws, state_dir, previous, timeline):
        pass


def current_objects(state_dir: Path) -> Path:
    """The folder holding the bucket's objects in force (for `claims --state-dir`)."""
    current = state_dir / CURRENT
    if current.exists():
        with contextlib.suppress(OSError, UnicodeDecodeError):
            return state_dir / GENERATIONS / current.read_text(encoding="utf-8").strip() / OBJECTS
    return state_dir / OBJECTS
