"""HTML reports that render their mathematics without a network.

nbconvert's HTML points at MathJax on a CDN, so an offline reader of the CTC derivation sees raw ``$$...$$``.
Debian's ``libjs-mathjax`` (MathJax 2.7, the version nbconvert's template is written for) is installed by
``make setup-system``; :func:`export_html` copies the part of it that the ``TeX-AMS_CHTML-full`` configuration
loads (about 2 MB) into ``_static/mathjax`` beside the report and points the page at it by a relative URL, so a
run folder stays readable when it is copied elsewhere.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

MATHJAX_SOURCES = (Path("/usr/share/javascript/mathjax"),)
MATHJAX_CONFIG = "TeX-AMS_CHTML-full,Safe"
# What the CommonHTML output with the TeX input needs; the rest of the package (SVG output, unpacked sources,
# tests, 50 translations) is 50 MB the page never loads.
_MATHJAX_PARTS = ("MathJax.js", f"config/{MATHJAX_CONFIG.split(',')[0]}.js", "jax/input/TeX", "jax/element",
                  "jax/output/CommonHTML", "extensions", "fonts/HTML-CSS/TeX/woff", "localization/en")
CDN_URL = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/latest.js?config=" + MATHJAX_CONFIG
_warned = False


def mathjax_source() -> Path | None:
    for candidate in MATHJAX_SOURCES:
        if (candidate / "MathJax.js").is_file():
            return candidate
    return None


def bundle_mathjax(static_dir: Path) -> Path | None:
    """Copy MathJax under ``static_dir/mathjax`` once; return its ``MathJax.js``, or None when not installed."""
    source = mathjax_source()
    if source is None:
        return None
    target = static_dir / "mathjax"
    if (target / "MathJax.js").is_file():
        return target / "MathJax.js"
    tmp = static_dir / f".mathjax-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    for part in _MATHJAX_PARTS:
        src = source / part
        if src.is_dir():
            shutil.copytree(src, tmp / part, dirs_exist_ok=True)
        elif src.is_file():
            (tmp / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tmp / part)
    try:
        tmp.rename(target)  # two runs bundling at once: the first rename wins, the other copy is dropped
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return target / "MathJax.js"


def mathjax_url(html_path: Path) -> str:
    """The URL a report at ``html_path`` should load MathJax from: a local copy, else the CDN (with a warning)."""
    global _warned
    local = bundle_mathjax(html_path.parent / "_static")
    if local is None:
        if not _warned:
            print("warning: MathJax is not installed (Debian: apt-get install libjs-mathjax); HTML reports load it "
                  "from a CDN and show raw TeX offline", file=sys.stderr)
            _warned = True
        return CDN_URL
    return f"{os.path.relpath(local, html_path.parent)}?config={MATHJAX_CONFIG}"


def export_html(ipynb: Path, html_path: Path) -> None:
    """Write ``ipynb`` as HTML at ``html_path`` with MathJax served from beside it."""
    import nbformat
    from nbconvert import HTMLExporter

    html_path = Path(html_path)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(mathjax_url=mathjax_url(html_path))
    body, _ = exporter.from_notebook_node(nbformat.read(ipynb, as_version=4))
    html_path.write_text(body, encoding="utf-8")
