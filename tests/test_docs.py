"""The front door and the documentation site: everything a reader copies must run.

- every Python block of README.md, README.ru.md and of every page of the site runs as written
  (a page's blocks in order, one namespace, in a fresh folder), except the few marked
  ``<!-- no-run: reason -->``;
- the site builds with ``mkdocs build --strict`` (API reference from the docstrings, the
  notebooks executed into it with their plots);
- every chapter notebook executes with nbclient and draws its plots inline;
- ``help(dlscratch)`` opens with an overview, a five-line example that runs, and where to go;
- the demos' figures on the site are the demos' own output, pasted by ``docs/make_figures.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from docblocks import python_blocks

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("chapter*.py"))
FRONT_PAGES = [ROOT / "README.md", ROOT / "README.ru.md"]
SITE_PAGES = sorted(path for path in DOCS.rglob("*.md")
                    if "notes" not in path.relative_to(DOCS).parts)
PAGES_WITH_CODE = [page for page in FRONT_PAGES + SITE_PAGES
                   if python_blocks(page.read_text(encoding="utf-8"))]
MOST_NO_RUN_BLOCKS = 6


def environment() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT / "src"), OPENBLAS_NUM_THREADS="1",
                MPLBACKEND="Agg", NO_MKDOCS_2_WARNING="1")


def run_blocks(page: Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tests" / "docblocks.py"), str(page)],
                          cwd=cwd, env=environment(), capture_output=True, text=True,
                          timeout=timeout)


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


# ------------------------------------------------------------------- the blocks of each page
@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=page_id)
def test_every_python_block_of_the_page_runs_as_written(page, tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("mlxtend")
    result = run_blocks(page, tmp_path)
    assert result.returncode == 0, \
        f"{page_id(page)}:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"


def test_the_readmes_and_the_pages_that_teach_have_code_to_run():
    ids = {page_id(page) for page in PAGES_WITH_CODE}
    expected = {"README.md", "README.ru.md", "docs/index.md", "docs/architecture.md",
                "docs/ru/architecture.md", "docs/bridges.md", "docs/cli.md", "docs/gpu.md",
                "docs/troubleshooting.md"} | {f"docs/chapters/chapter{n}.md" for n in range(3, 7)}
    assert expected <= ids, expected - ids


def test_blocks_that_do_not_run_are_few_and_say_why():
    skipped = [(page_id(page), block) for page in FRONT_PAGES + SITE_PAGES
               for block in python_blocks(page.read_text(encoding="utf-8"))
               if block.skip_reason is not None]
    assert len(skipped) <= MOST_NO_RUN_BLOCKS, [where for where, _ in skipped]
    for where, block in skipped:
        assert len(block.skip_reason) > 20, f"{where}, line {block.line}: say why it cannot run"
    front = [where for where, _ in skipped if where.startswith("README")]
    assert not front, f"every block of the README must run: {front}"


def test_the_runner_fails_when_a_block_stops_and_skips_only_marked_ones(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n```python\nx = 1\n```\n\n"
                    "<!-- no-run: shown for comparison only, it needs the book's package -->\n"
                    "```python\nimport lincoln\n```\n\n"
                    "=== \"tab\"\n\n    ```python\n    y = x + 1\n    ```\n", encoding="utf-8")
    blocks = python_blocks(page.read_text(encoding="utf-8"))
    assert [b.skip_reason is None for b in blocks] == [True, False, True]
    assert blocks[2].code == "y = x + 1\n"  # a tab's indentation is removed
    assert run_blocks(page, tmp_path).returncode == 0
    page.write_text(page.read_text(encoding="utf-8") + "\n```python\nprint(undefined)\n```\n",
                    encoding="utf-8")
    broken = run_blocks(page, tmp_path)
    assert broken.returncode == 1
    assert "NameError" in broken.stderr and "block 4" in broken.stderr


# ------------------------------------------------------------------------- help(dlscratch)
def test_help_opens_with_an_overview_an_example_that_runs_and_where_to_go(tmp_path):
    pytest.importorskip("mlxtend")
    import pydoc

    import dlscratch

    text = pydoc.render_doc(dlscratch, renderer=pydoc.plaintext)
    description = text[text.index("DESCRIPTION"):text.index("PACKAGE CONTENTS")]
    for needed in ("Operation", "NeuralNetwork", "Trainer", "dlscratch.datasets",
                   "dlscratch demo", "mkdocs serve", "docs/"):
        assert needed in description, needed
    example = dlscratch.__doc__.split("(offline):\n\n", 1)[1].split("\n\n", 1)[0]
    lines = [line[4:] for line in example.splitlines()]
    assert len(lines) == 5
    result = subprocess.run([sys.executable, "-c", "\n".join(lines)], cwd=tmp_path,
                            env=environment(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Validation loss after 10 epochs" in result.stdout


# ------------------------------------------------------------------------------- the site
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built once with --strict (the notebooks executed into it)."""
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_jupyter",
                   "jupytext", "nbclient", "ipykernel"):
        pytest.importorskip(module)
    pytest.importorskip("mlxtend")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                             str(out)], cwd=ROOT, env=environment(), capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-6000:]
    return out


def test_the_site_builds_strict_with_every_page(site):
    for page in ("index.html", "architecture/index.html", "ru/architecture/index.html",
                 "cli/index.html", "bridges/index.html", "gpu/index.html",
                 "troubleshooting/index.html", "figures/index.html", "departures/index.html",
                 *(f"chapters/chapter{n}/index.html" for n in range(3, 7)),
                 *(f"notebooks/chapter{n}/index.html" for n in range(3, 7))):
        assert (site / page).is_file(), page
    assert (site / "img" / "training-step.svg").is_file()
    assert not (site / "notes").exists() and not (site / "make_figures.py").exists()


def test_the_api_reference_comes_from_the_docstrings(site):
    core = (site / "api" / "core" / "index.html").read_text(encoding="utf-8")
    for name in ("base.Operation", "base.ParamOperation", "dense.WeightMultiply",
                 "dense.BiasAdd", "activations.Sigmoid", "layers.Layer", "layers.Dense",
                 "losses.MeanSquaredError", "network.NeuralNetwork", "optimizers.SGD",
                 "train.Trainer"):
        assert f'id="dlscratch.{name}"' in core, name
    assert "out = X @ W" in core  # WeightMultiply's docstring
    bridges = (site / "api" / "bridges" / "index.html").read_text(encoding="utf-8")
    assert "NeuralNetClassifier" in bridges and "to_torch" in bridges


def test_the_notebooks_are_rendered_with_their_outputs_and_plots(site):
    for n in range(3, 7):
        html = (site / "notebooks" / f"chapter{n}" / "index.html").read_text(encoding="utf-8")
        assert "data:image/png" in html, f"chapter {n}: the plots are missing"
        assert "Traceback" not in html, f"chapter {n}: a cell failed"


def test_the_demo_figures_are_pasted_into_the_pages(site):
    for page, figure in (("chapters/chapter3", "boston"), ("chapters/chapter6", "text"),
                         ("figures", "cnn")):
        html = (site / page / "index.html").read_text(encoding="utf-8")
        assert "--8&lt;--" not in html and "--8<--" not in html
        first_line = (DOCS / "figures" / f"{figure}.txt").read_text(encoding="utf-8")
        assert first_line.split("#")[0].strip().replace("$ ", "") in html


# -------------------------------------------------------------------------- the notebooks
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_chapter_notebook_runs_and_draws_inline(notebook, tmp_path, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("mlxtend")
    for name, value in environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MPLBACKEND")  # the kernel's own inline backend draws the plots
    book = jupytext.read(notebook)
    limit = sys.getrecursionlimit()
    try:
        nbclient.NotebookClient(book, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        sys.setrecursionlimit(limit)  # the client raises it to 3000 for the rest of the session
    outputs = [output for cell in book.cells if cell.cell_type == "code"
               for output in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{notebook.name}: expected its plots inline"


def test_there_is_a_notebook_per_chapter_kept_as_reviewable_text():
    assert [path.stem for path in NOTEBOOKS] == [f"chapter{n}" for n in range(3, 7)]
    for path in NOTEBOOKS:
        text = path.read_text(encoding="utf-8")
        assert "# %% [markdown]" in text and "jupytext" in text


# ------------------------------------------------------------------ figures from a script
def test_the_figures_on_the_site_come_from_the_demos(tmp_path):
    pytest.importorskip("mlxtend")
    pytest.importorskip("matplotlib")
    sys.path.insert(0, str(DOCS))
    try:
        import make_figures
    finally:
        sys.path.remove(str(DOCS))
    for name in make_figures.COMMANDS:
        committed = (DOCS / "figures" / f"{name}.txt").read_text(encoding="utf-8")
        assert committed.startswith(f"$ dlscratch demo {name} --quiet"), name
        assert "Done in" in committed and "Traceback" not in committed
        included = [page for page in SITE_PAGES
                    if f'--8<-- "figures/{name}.txt"' in page.read_text(encoding="utf-8")]
        assert included, f"no page includes figures/{name}.txt"
    env = environment()
    result = subprocess.run(
        [sys.executable, "-c", "import sys, make_figures; "
         f"print(make_figures.figure('boston', __import__('pathlib').Path({str(tmp_path)!r})))"],
        cwd=DOCS, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    fresh = (tmp_path / "boston.txt").read_text(encoding="utf-8").splitlines()
    committed = (DOCS / "figures" / "boston.txt").read_text(encoding="utf-8").splitlines()
    shape = [line.split("|")[0].strip() for line in committed[1:6]]
    assert [line.split("|")[0].strip() for line in fresh[1:6]] == shape
    # the figures are the demo's, not typed: the README quotes none of them
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert not re.search(r"perplexity of \d|\d+\.\d+%", readme)
