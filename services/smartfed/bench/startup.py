"""Start-up: from launching ``smartfed simulate`` to its first round, in a fresh process.

Two marks come from the command's own log: the federation line (Ray up, workers holding their
sites, normalisation done: ready to train) and the line of round 1 (its first update applied).
The run is as small as the command allows, so the figures are what start-up costs, not training.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READY_MARK = "federation sim-"
FIRST_ROUND_MARK = "round 1/"
TIMEOUT_S = 300.0


def measure_startup() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="smartfed-bench-startup-") as output:
        command = [
            sys.executable,
            "-m",
            "smartfed.cli",
            "simulate",
            "--sites",
            "2",
            "--organizations",
            "1",
            "--rounds",
            "1",
            "--workers",
            "1",
            "--no-baselines",
            "--personalize-epochs",
            "0",
            "--output",
            str(Path(output) / "run"),
        ]
        # A wide console keeps each log line on one line, so the marks are found whole.
        env = {**os.environ, "COLUMNS": "400"}
        started = time.perf_counter()
        marks: dict[str, float] = {}
        with subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
        ) as process:
            for line in process.stderr:
                for name, mark in (("ready_s", READY_MARK), ("first_round_s", FIRST_ROUND_MARK)):
                    if mark in line and name not in marks:
                        marks[name] = time.perf_counter() - started
            process.wait(timeout=TIMEOUT_S)
        total_s = time.perf_counter() - started
    if process.returncode != 0 or len(marks) < 2:
        raise RuntimeError(
            f"`{' '.join(command[1:])}` exited with {process.returncode} after {total_s:.1f} s "
            f"and logged {sorted(marks) or 'none'} of the marks {READY_MARK!r} and "
            f"{FIRST_ROUND_MARK!r}; run it by hand to see why"
        )
    return {"ready_s": marks["ready_s"], "first_round_s": marks["first_round_s"], "exit_s": total_s}
