"""Session fixtures: each configuration is synthesized once (bundling skipped, cdk-nag on)."""

from __future__ import annotations

import pytest
from cdk_helpers import AB2D_SOURCE, VARIANT_CATALOG, Synth, config_context, synthesize

from infra.config import DEFAULT_CONTEXT


@pytest.fixture(scope="session")
def default(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """What cdk.json ships: one BCDA sandbox source, arm64, no VPC."""
    return synthesize(outdir=tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="session")
def vpc(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(config_context(vpc={"enabled": True, "max_azs": 2}), tmp_path_factory.mktemp("vpc"))


@pytest.fixture(scope="session")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Two sources (one with an imported secret and a disabled schedule), x86_64, e-mail, no transitions,
    a catalog of other names and limits."""
    return synthesize(
        config_context(
            sources=[DEFAULT_CONTEXT["sources"][0], AB2D_SOURCE],
            architecture="x86_64",
            alarm_email="data-team@example.org",
            lifecycle={"infrequent_access_days": None, "glacier_days": None},
            state_machine_timeout_hours=48,
            wait_budget_hours=40,
            log_retention_days=731,
            catalog=VARIANT_CATALOG,
        ),
        tmp_path_factory.mktemp("variant"),
    )
