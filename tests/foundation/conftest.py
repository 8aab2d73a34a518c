from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def make_notebook(path: Path, parameters: str, *cells: str) -> Path:
    """A small notebook on the workbench kernel: a tagged parameters cell, then ``cells``."""
    params = new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(
        cells=[new_markdown_cell("# fixture"), params, *(new_code_cell(c) for c in cells)],
        metadata={"kernelspec": {"name": "workbench", "display_name": "workbench", "language": "python"}},
    )
    nbformat.write(nb, path)
    return path


@pytest.fixture
def passing_nb(tmp_path: Path) -> Path:
    return make_notebook(
        tmp_path / "10_square.ipynb",
        'profile = "quick"\nx = 3\nscale = 1.5\nlabel = "a"',
        "import workbench\nresult = x * x * scale\nprint('result', result)",
        "workbench.record('square', result)\nworkbench.record('label', label)",
    )


@pytest.fixture
def failing_nb(tmp_path: Path) -> Path:
    return make_notebook(
        tmp_path / "20_fails.ipynb",
        'profile = "quick"\nx = 1',
        "import workbench\nworkbench.record('before_failure', x)",
        "raise ValueError('the input table has no rows')",
        "workbench.record('after_failure', 1)",
    )


@pytest.fixture
def slow_nb(tmp_path: Path) -> Path:
    return make_notebook(tmp_path / "30_slow.ipynb", 'profile = "quick"', "import time\ntime.sleep(30)", "y = 2")


@pytest.fixture
def notebook_factory():
    """``make_notebook`` for tests that need a notebook of their own."""
    return make_notebook
