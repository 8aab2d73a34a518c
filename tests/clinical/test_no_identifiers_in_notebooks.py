"""No national id or cohort name in clear text in any executed notebook or report.

Scans every ``.ipynb`` under notebooks/ and reports/ (and the HTML and Markdown under reports/): cell
sources and text outputs. Binary payloads (images) are skipped: base64 text is not readable data.
"""

import json
import re
from pathlib import Path

import pytest

from workbench.clinical import read_vitals

ROOT = Path(__file__).resolve().parents[2]
ID_PATTERN = re.compile(r"[A-Z][12][0-9]{8}")
BINARY_PREFIXES = ("image/", "application/pdf", "application/octet-stream")


def _documents() -> list[Path]:
    found = sorted((ROOT / "notebooks").glob("**/*.ipynb"))
    reports = ROOT / "reports"
    if reports.is_dir():
        for pattern in ("**/*.ipynb", "**/*.html", "**/*.md"):
            found += sorted(p for p in reports.glob(pattern) if ".ipynb_checkpoints" not in p.parts)
    return found


def _texts(path: Path):
    """(place, text) pairs of a notebook's sources and text outputs, or the whole file otherwise."""
    if path.suffix != ".ipynb":
        text = path.read_text(encoding="utf-8", errors="replace")
        # Inline images in HTML reports are base64, not text anyone reads.
        yield "file", re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", "", text)
        return
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb.get("cells", [])):
        yield f"cell {i} source", "".join(cell.get("source", ""))
        for output in cell.get("outputs", []):
            if "text" in output:
                yield f"cell {i} stream", "".join(output["text"])
            for mime, data in output.get("data", {}).items():
                if not mime.startswith(BINARY_PREFIXES):
                    yield f"cell {i} {mime}", data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
            if "traceback" in output:
                yield f"cell {i} traceback", "\n".join(output["traceback"])


def _mask(token: str) -> str:
    return token[:2] + "*" * (len(token) - 4) + token[-2:]


def find_identifiers(path: Path, names: set[str]) -> list[str]:
    """Every id-like token and cohort name in ``path``, masked, with where it is."""
    problems = []
    for place, text in _texts(path):
        problems += [f"{place}: id-like token {_mask(m.group())}" for m in ID_PATTERN.finditer(text)]
        problems += [f"{place}: a cohort name ({_mask(n)})" for n in sorted(names) if n in text]
    return problems


@pytest.fixture(scope="module")
def cohort_names() -> set[str]:
    return set(read_vitals()["name"].unique())


def test_scanner_finds_an_id_and_a_name_but_not_image_bytes(tmp_path, cohort_names):
    name = sorted(cohort_names)[0]
    nb = {
        "cells": [
            {"cell_type": "code", "source": "x = 1", "outputs": [{"output_type": "stream", "text": "id B123456789\n"}]},
            {"cell_type": "code", "source": "", "outputs": [{"output_type": "execute_result", "data": {
                "text/plain": f"patient {name}", "image/png": "A123456789"}}]},
        ]
    }  # fmt: skip
    path = tmp_path / "leak.ipynb"
    path.write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")
    assert find_identifiers(path, {name}) == [
        "cell 0 stream: id-like token B1******89",
        f"cell 1 text/plain: a cohort name ({_mask(name)})",
    ]
    html = tmp_path / "r.html"
    html.write_text('<img src="data:image/png;base64,QA123456789Q"> fine')
    assert find_identifiers(html, {name}) == []


@pytest.mark.parametrize("path", _documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_identifier_in_clear_text(path, cohort_names):
    problems = find_identifiers(path, cohort_names)
    assert not problems, f"identifiers in clear text in {path.relative_to(ROOT)}:\n" + "\n".join(problems)
