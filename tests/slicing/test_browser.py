"""Real-browser test: JupyterLab in headless Chromium runs the viewer cells; dragging a slider changes the image,
and dragging over a multi-scale layer shows its coarse frame first, then the fine one.

The server runs the venv's ``jupyter lab`` with the venv's ``workbench`` kernel, on a free loopback port
with a random token, in temporary config/runtime/IPython directories, on a temporary copy of the
notebook cut down to the cells tagged ``parameters`` and ``browser-demo``. Everything is torn down
afterwards. Where Debian's chromium or the playwright package is missing the test is skipped, with the
reason, never silently.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "03_async_slicing.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
JUPYTER = Path(sys.executable).parent / "jupyter"
KERNELS = Path(sys.prefix) / "share" / "jupyter"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _demo_notebook(target: Path) -> None:
    """Write the parameters cell and the cells tagged browser-demo, without outputs, to ``target``."""
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    keep = [c for c in nb.cells if {"parameters", "browser-demo"} & set(c.metadata.get("tags", []))]
    if not any("Viewer(" in c.source and c.cell_type == "code" for c in keep):
        raise AssertionError("the notebook has no code cell tagged browser-demo that makes a Viewer")
    for cell in keep:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.cells = keep
    nbformat.write(nb, target)


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a temp copy of the notebook; yields (url, token, log path)."""
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (make setup-system installs it)")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e .[dev])")
    if not JUPYTER.exists():
        pytest.skip(f"jupyter is not installed next to {sys.executable}")
    if not (KERNELS / "kernels" / "workbench" / "kernel.json").exists():
        pytest.skip(f"the 'workbench' kernelspec is missing under {KERNELS} (make setup registers it)")
    root = tmp_path / "root"
    root.mkdir()
    _demo_notebook(root / NOTEBOOK.name)
    dirs = {name: tmp_path / name for name in ("config", "runtime", "ipython", "settings", "workspaces")}
    for d in dirs.values():
        d.mkdir()
    env = dict(os.environ)
    env.update(
        JUPYTER_PATH=str(KERNELS),
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        IPYTHONDIR=str(dirs["ipython"]),
        MPLBACKEND="Agg",
    )
    port, token = _free_port(), secrets.token_hex(16)
    log = tmp_path / "lab.log"
    command = [
        str(JUPYTER), "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={dirs['settings']}", f"--LabApp.workspaces_dir={dirs['workspaces']}",
    ]
    with open(log, "w") as log_file:
        server = subprocess.Popen(command, env=env, cwd=root, stdout=log_file, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                raise AssertionError(f"jupyter lab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"jupyter lab did not answer within 90 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url, token, log
    finally:
        # The server and the kernels it started share its session: end the whole group, then wait.
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def test_dragging_a_slider_changes_the_image(lab):
    from playwright.sync_api import sync_playwright

    url, token, log = lab
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/lab/tree/{NOTEBOOK.name}?token={token}", timeout=90_000)
            page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=120_000)
            page.locator(".lm-MenuBar-item", has_text="Run").first.click(timeout=30_000)
            page.click(".lm-Menu-item[data-command='runmenu:run-all']", timeout=30_000)

            image = page.locator("img.widget-image").first
            image.wait_for(state="attached", timeout=120_000)
            page.wait_for_function(
                "() => { const i = document.querySelector('img.widget-image');"
                " return i && i.src.startsWith('blob:'); }",
                timeout=60_000,
            )
            first_src = image.get_attribute("src")
            readout = page.locator(".widget-slider .widget-readout").first
            first_readout = readout.inner_text().strip()

            handle = page.locator(".widget-slider .noUi-handle").first
            handle.scroll_into_view_if_needed()
            box = handle.bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x + 50, y, steps=10)
            page.mouse.up()

            page.wait_for_function(
                "(old) => { const i = document.querySelector('img.widget-image');"
                " return i && i.src.startsWith('blob:') && i.src !== old; }",
                arg=first_src,
                timeout=60_000,
            )
            moved_readout = readout.inner_text().strip()
            status = page.locator(".slicing-status").first.inner_text()

            # The pyramid viewer: record every level its badge shows, then drag its slider.
            cell = page.locator(".jp-Cell").filter(has=page.locator(".slicing-layer[data-layer='pyramid']")).first
            cell.scroll_into_view_if_needed()
            page.wait_for_function(
                "() => { const b = document.querySelector(\".slicing-layer[data-layer='pyramid']\");"
                " return b && b.dataset.level === '0' && b.dataset.loading === 'false'; }",
                timeout=60_000,
            )
            cell.evaluate(
                """(cell) => {
                    window.__pyramid = [];
                    const html = cell.querySelector('.slicing-status').closest('.widget-html');
                    const record = () => {
                        const b = cell.querySelector(".slicing-layer[data-layer='pyramid']");
                        if (b && b.dataset.indices) window.__pyramid.push([b.dataset.indices.split(',')[0], b.dataset.level]);
                    };
                    new MutationObserver(record).observe(html, {subtree: true, childList: true, attributes: true,
                                                                 characterData: true});
                }"""
            )
            p_handle = cell.locator(".widget-slider .noUi-handle").first
            p_readout = cell.locator(".widget-slider .widget-readout").first
            box = p_handle.bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x + 40, y, steps=4)
            page.mouse.up()
            target = p_readout.inner_text().strip()
            page.wait_for_function(
                "(target) => (window.__pyramid || []).some(([i, level]) => i === target && level === '0')",
                arg=target,
                timeout=60_000,
            )
            seen = page.evaluate("() => window.__pyramid")
        finally:
            browser.close()
    assert moved_readout != first_readout, f"the slider did not move (readout stayed {first_readout})"
    assert int(moved_readout) > 0
    assert "image" in status, f"unexpected status line {status!r}"
    levels = [level for index, level in seen if index == target]
    assert int(target) > 0 and levels[0] == "2" and levels[-1] == "0", (
        f"for plane {target} the pyramid badge showed levels {levels} (all seen: {seen}); expected coarse (2) first, "
        "fine (0) last"
    )
