"""A local run with a folder of the user's views: the cached template follows the folder's content
(its views decide the Glue tables and which files are curated)."""

from __future__ import annotations

import json
from pathlib import Path

from local.runner.template_cache import template_key

VIEW = {"name": "mine", "resource": "Condition", "select": [{"column": [{"name": "id2", "path": "id"}]}]}


def test_the_template_key_changes_with_the_views_in_the_folder(tmp_path: Path) -> None:
    config = {"sources": [{"name": "s", "api": "bcda", "base_url": "http://127.0.0.1:1"}],
              "catalog": {"views_folder": str(tmp_path)}}  # fmt: skip
    empty = template_key(config)
    (tmp_path / "mine.json").write_text(json.dumps(VIEW))
    one = template_key(config)
    (tmp_path / "mine.json").write_text(json.dumps({**VIEW, "resource": "Procedure"}))
    assert len({empty, one, template_key(config)}) == 3
    assert template_key(config) == template_key(config)
