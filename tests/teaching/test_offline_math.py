"""Executed reports render their mathematics with the network blocked (headless Chromium)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from workbench._offline_html import export_html, mathjax_source

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.skipif(mathjax_source() is None, reason="Debian's libjs-mathjax is not installed (make setup-system)")
def test_report_renders_math_offline(tmp_path: Path):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (make setup-system)")
    from playwright.sync_api import sync_playwright

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(r"Forward variable $\alpha_t(s)$ and $$p(l|x)=\sum_{\pi\in B^{-1}(l)}\prod_t y^t_{\pi_t}$$")]
    nbformat.write(nb, tmp_path / "lesson.ipynb")
    html = tmp_path / "run" / "lesson.html"
    export_html(tmp_path / "lesson.ipynb", html)
    assert "ajax/libs/mathjax" not in html.read_text()
    remote: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()

        def block(route):
            if route.request.url.startswith("file://"):
                route.continue_()
            else:
                remote.append(route.request.url)
                route.abort()

        page.route("**/*", block)
        page.goto(html.as_uri())
        page.wait_for_selector(".MathJax_CHTML, .mjx-chtml", timeout=20_000)
        rendered = page.locator(".mjx-chtml").count()
        text = page.inner_text("body")
        browser.close()
    assert rendered >= 2, "MathJax did not typeset the inline and the display formula"
    assert "$$" not in text and "\\prod" not in text
    assert not [u for u in remote if "mathjax" in u.lower()], remote
