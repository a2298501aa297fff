"""The fault soak, short (CI): a few consecutive runs of the real state machine, a fault drawn per run,
the data advancing between runs, every promise checked after each run (benchmarks/soak.py runs 100)."""

from __future__ import annotations

import io

from local.emulator.config import REFERENCE_SCENARIOS, SCENARIOS, scenario_names
from local.soak.faults import BASELINE, FAULTS, faults_for
from local.soak.soak import soak


def test_a_short_soak_loses_duplicates_and_mismatches_nothing():
    out = io.StringIO()
    # seed 1394: signed URLs expire before a broken download resumes (the run fails, the server goes on
    # signing); the next run cannot resume that job and starts over; then a manifest whose
    # transactionTime is in 2099 (the watermark: the kick-off time, exactly); then signed URLs again
    tally = soak(runs=4, seed=1394, flavor="bcda", patients=40, out=out, in_process=True)
    lines = out.getvalue().splitlines()
    assert lines[-1] == "soak: 4 runs, 0 lost, 0 duplicated, 0 wrong watermarks, 0 claims mismatches", out.getvalue()
    assert [line.split()[2] for line in lines if line.startswith("run ")] == [
        "expiring-signed-urls", "resume-refused", "future-transaction-time", "signed-file-urls",
    ]  # fmt: skip
    assert tally.clean, out.getvalue()


def test_every_fault_is_playable_by_the_flavours_it_names():
    knobs = set(BASELINE)
    for fault in FAULTS:
        assert set(fault.knobs) | set(fault.lasting) <= knobs, f"{fault.name}: sets a knob the baseline does not reset"
        names = scenario_names(fault.scenario)
        assert set(names) <= set(SCENARIOS), f"{fault.name}: an unknown scenario would play no fault"
        assert not set(names) & set(REFERENCE_SCENARIOS) or fault.flavors == ("smart",), fault.name
        assert fault.expect in ("succeed", "partial", "fail"), fault.name
        for flavor in fault.flavors:
            named = fault.error_for(flavor) is not None
            assert (fault.expect == "fail") == named, f"{fault.name}: a failure names its error ({flavor})"
    assert {fault.name for fault in faults_for("ab2d")} < {fault.name for fault in FAULTS}
