"""What "Curate file" reads and writes for this deployment: the claims layer's files, and every
file of a type some view reads (the default CMS views, and the user's folder of ViewDefinitions
that cdk.json names: the stack's layer, or the local folder a local run points at)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from claims import curatable
from ingest.errors import ConfigurationError
from views import ViewError
from views.catalog import REJECTS_TABLE, ViewTable, load_tables
from views.curate import PreparedView, prepare


@lru_cache(maxsize=4)
def view_tables(user_views_dir: str | None) -> tuple[ViewTable, ...]:
    try:
        return load_tables(Path(user_views_dir) if user_views_dir else None)
    except ViewError as error:  # synthesis checked the folder: only a folder changed by hand gets here
        raise ConfigurationError(f"the views folder {user_views_dir}: {error}") from None


@lru_cache(maxsize=4)
def prepared_views(user_views_dir: str | None) -> list[PreparedView]:
    """The views compiled once per container (a few milliseconds each)."""
    return prepare(view_tables(user_views_dir))


def view_table_names(user_views_dir: str | None) -> tuple[str, ...]:
    return (*(table.name for table in view_tables(user_views_dir)), REJECTS_TABLE)


def should_curate(kind: str, resource_type: str, user_views_dir: str | None) -> bool:
    """Claims files (claims.curatable), and output files of a type a view reads (Coverage...)."""
    if curatable(kind, resource_type):
        return True
    return kind == "output" and any(table.resource == resource_type for table in view_tables(user_views_dir))
