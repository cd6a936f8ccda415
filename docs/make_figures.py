"""Rerun the demos and keep what they print: the figures the site quotes, never typed by hand.

    python3 docs/make_figures.py            # every demo (about 10 minutes on 2 cores)
    python3 docs/make_figures.py boston     # one

Each demo's output goes verbatim into ``docs/figures/<demo>.txt`` under a header naming the
command, the date and the machine; the pages include these files (``--8<--``), so a figure on
the site is always the last run's.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMMANDS = {
    "boston": ["demo", "boston", "--quiet"],
    "mnist": ["demo", "mnist", "--quiet"],
    "cnn": ["demo", "cnn", "--quiet"],
    "text": ["demo", "text", "--quiet"],
}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def figure(name: str, out_dir: Path = HERE / "figures") -> Path:
    """Run one demo in a temporary folder and write its output to ``out_dir/<name>.txt``."""
    args = COMMANDS[name]
    with tempfile.TemporaryDirectory() as scratch:
        result = subprocess.run([sys.executable, "-m", "dlscratch", *args, "--out", scratch],
                                capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"dlscratch {' '.join(args)} failed:\n{result.stderr}")
    printed = "\n".join(line for line in result.stdout.splitlines()
                        if not line.startswith("Wrote "))  # temporary paths, not figures
    header = (f"$ dlscratch {' '.join(args)}    "
              f"# {datetime.date.today().isoformat()}, {machine()}\n")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.txt"
    path.write_text(header + printed.strip() + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    for demo in sys.argv[1:] or list(COMMANDS):
        print(figure(demo))
