"""The code base stays ruff-clean (the linter is part of the test extra)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_reports_nothing_on_src_tests_and_benchmarks():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("ruff is required in CI (pip install -e '.[test]')")
        pytest.skip("ruff not installed")
    targets = [p for p in ("src", "tests", "benchmarks", "examples", "docs", "notebooks")
               if (ROOT / p).exists()]
    result = subprocess.run([ruff, "check", *targets], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
