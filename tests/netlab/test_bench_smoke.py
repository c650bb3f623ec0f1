"""The benchmark suite in its quick mode, so it cannot rot: every tool runs, every
copy is verified (the suite stops on a differing hash), every figure is reported.
The figures themselves are not judged here: timings belong to the benchmark."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.netlab import lab_unavailable_reason

pytestmark = [pytest.mark.netlab, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)  # the run's own limit below; 120 s was hit on a loaded machine
def test_quick_benchmark_runs_every_part_and_writes_its_report(tmp_path: Path) -> None:
    reason = lab_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    out = tmp_path / "out"
    work = tmp_path / "work"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), "--work", str(work)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "results.json").read_text())
    assert report["meta"]["quick"] is True
    rows = {(r["group"], r["name"]): r for r in report["results"]}
    seen = set(rows)
    for where in ("loopback", "two lab hosts"):
        for what in ("large file", "small files"):
            for tool in ("chatty", "scp", "magic-wormhole"):
                row = rows.get((f"throughput {what}, {where}", tool))
                assert row is not None and len(row["ratios"]) == 2  # quick: 2 rounds
        for when in ("first byte", "end stall"):
            assert ("first byte and end stall", f"{when}, {where}") in seen
    shaped = "throughput large file, lab link shaped to 1 Gbit/s"
    assert {(shaped, "raw TCP"), (shaped, "chatty")} <= seen
    assert all(rows[(shaped, tool)]["extra"]["ss"] for tool in ("raw TCP", "chatty"))
    groups = {r["group"] for r in report["results"]}
    expected = {"memory and CPU", "message latency", "discovery", "startup", "scale", "resilience"}
    assert expected <= groups
    # Discovery may find nothing in time; an end stall shorter than the 1 ms poll may show <= 0.
    unsigned = ("discovery", "first byte and end stall")
    assert all(r["value"] > 0 for r in report["results"] if r["group"] not in unsigned)
    table = (out / "results.md").read_text()
    assert "| throughput large file, loopback | chatty |" in table
    assert "## Throughput by round, and CPU per side" in table
    for plot in ("throughput.png", "latency.png", "discovery.png"):
        assert (out / plot).stat().st_size > 1000
