"""The Python blocks of a Markdown page, and a runner that executes them as a reader would.

A page's ```python blocks run top to bottom in one namespace (a page reads as one session).
A block that cannot run here is marked on the line before it with a reason:

    <!-- no-run: the book's own code, shown for comparison -->

Run one page by hand:  python3 tests/docblocks.py README.md
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n"
                   r"(?P<body>.*?)^(?P=indent)```[ \t]*$", re.MULTILINE | re.DOTALL)
NO_RUN = re.compile(r"<!--\s*no-run:\s*(?P<reason>[^>]*?)\s*-->\s*$")


@dataclass
class Block:
    line: int          # where the block's code starts in the page (1-based)
    code: str
    skip_reason: str | None


def python_blocks(text: str) -> list[Block]:
    """Every ```python block of ``text``, dedented, with its no-run reason (or None)."""
    blocks = []
    for match in FENCE.finditer(text):
        if match.group("lang") not in ("python", "py"):
            continue
        indent = match.group("indent")
        lines = match.group("body").splitlines()
        code = "\n".join(line[len(indent):] if line.startswith(indent) else line.lstrip()
                         for line in lines)
        before = text[:match.start()].rstrip().splitlines()
        marker = NO_RUN.search(before[-1]) if before else None
        blocks.append(Block(line=text.count("\n", 0, match.start()) + 2, code=code + "\n",
                            skip_reason=marker.group("reason") if marker else None))
    return blocks


def run_page(path: str | Path) -> int:
    """Execute the runnable blocks of ``path`` in order; print which block failed and why."""
    import traceback

    path = Path(path)
    namespace: dict = {"__name__": "__main__"}
    for number, block in enumerate(python_blocks(path.read_text(encoding="utf-8")), 1):
        if block.skip_reason is not None:
            continue
        try:
            exec(compile(block.code, f"{path.name}, block {number} (line {block.line})", "exec"),
                 namespace)
        except BaseException:  # noqa: BLE001 - report whatever stops the reader
            traceback.print_exc()
            print(f"{path}: block {number}, line {block.line}, stopped", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(max(run_page(page) for page in sys.argv[1:]))
