"""The fault soak, short (CI): a few consecutive runs of the real state machine, a fault drawn per run,
the data advancing between runs, every promise checked after each run (benchmarks/soak.py runs 100)."""

from __future__ import annotations

import io

from local.soak.faults import BASELINE, FAULTS, faults_for
from local.soak.soak import soak


def test_a_short_soak_loses_duplicates_and_mismatches_nothing():
    out = io.StringIO()
    # seed 427: a run fails with one file short, the next cannot resume its job and starts over
    tally = soak(runs=4, seed=427, flavor="bcda", patients=40, out=out, in_process=True)
    lines = out.getvalue().splitlines()
    assert lines[-1] == "soak: 4 runs, 0 lost, 0 duplicated, 0 wrong watermarks, 0 claims mismatches", out.getvalue()
    assert len([line for line in lines if line.startswith("run ")]) == 4
    assert tally.unexpected == 0, out.getvalue()


def test_every_fault_is_playable_by_the_flavours_it_names():
    knobs = set(BASELINE)
    for fault in FAULTS:
        assert set(fault.knobs) <= knobs, f"{fault.name}: reset a knob the baseline does not restore"
    assert {fault.name for fault in faults_for("ab2d")} < {fault.name for fault in FAULTS}
