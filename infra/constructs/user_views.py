"""The user's folder of ViewDefinitions (cdk.json ``catalog.views_folder``) as a Lambda layer: the
functions that read views find them under /opt/views (BULK_USER_VIEWS_DIR), the same files the
Glue tables were made from. Checked by the views engine first: an invalid view fails synthesis."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.config import IngestConfig
from infra.view_catalog_schema import load_view_catalog, user_views_folder

#: the functions that read the views: Curate file evaluates them; List landed files and Finalize
#: run decide by their resource types which files are curated
VIEW_READERS = ("curate_file", "plan_rebuild", "finalize")
_ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}


def user_views_layer(scope: Construct, config: IngestConfig) -> lambda_.LayerVersion | None:
    folder = user_views_folder(config.catalog.views_folder)
    if folder is None:
        return None
    load_view_catalog(config.catalog.views_folder)  # raises ConfigError with the engine's message
    staged = Path(tempfile.mkdtemp(prefix="bulk-ingest-views-")) / "views"  # a layer's views/ is /opt/views
    staged.mkdir()
    for path in sorted(folder.glob("*.json")):
        shutil.copyfile(path, staged / path.name)
    return lambda_.LayerVersion(
        scope,
        "UserViews",
        code=lambda_.Code.from_asset(str(staged.parent)),
        compatible_runtimes=[lambda_.Runtime.PYTHON_3_14],
        compatible_architectures=[_ARCHITECTURES[config.architecture]],
        description="bulk-fhir-ingest: the SQL on FHIR ViewDefinitions of catalog.views_folder",
    )
