"""The start-up benchmark, small: it runs end to end and reports every command.

Its figures are in docs/benchmarks.md ("Command start-up"); nothing here is timed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "cli_startup.py"


@pytest.mark.slow
def test_the_start_up_benchmark_runs_and_reports_every_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATATRAC_", "DATABASE"))}
    result = subprocess.run(
        [sys.executable, str(BENCH), "--runs", "1", "--datasets", "30", "--no-postgres"],
        capture_output=True,
        text=True,
        env={**env, "TMPDIR": str(tmp_path)},
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    for command in ("`fetch <hash>`", "`lineage <hash>`", "`fetch -a --limit 1000`"):
        assert f"| SQLite (embedded) | {command} |" in result.stdout
    assert "no bytecode" in result.stdout
