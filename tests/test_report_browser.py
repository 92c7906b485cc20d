"""The report in a real browser: headless Chromium opens the page, every figure decodes, the checks
tables list every check, and a screenshot is saved.

Skipped where no Chromium is installed (``apt-get install chromium``); ``.ci/run`` installs it.
Set ``IMPLICIT_BIAS_SCREENSHOT_DIR`` to keep the screenshot.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from implicit_bias import checks as checks_mod, experiments, report, runner, store, sweep

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("dask")]

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]  # fmt: skip


def chromium(tmp_path: Path, *args: str) -> str:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium (apt-get install chromium)")
def test_report_renders_every_figure_and_every_check(tmp_path, dask_client):
    root = tmp_path / "store"
    shown = []
    for name in ("dmf_identical", "dmf_effective_rank"):
        module = experiments.get(name)
        outcome = (
            runner.execute(name, module.Config(), root=root)
            if name == "dmf_identical"
            else (runner.execute(name, experiments.tiny_config(module), root=root))
        )
        shown.append(outcome.path)
    spec = sweep.SweepSpec(
        "dmf_identical", {"alpha": ("0.1", "0.2"), "depth": ("2", "3")}, (0, 1),
        {"n_steps": "2000", "n_saves": "20", "tol": "1e-3"},
    )  # fmt: skip
    assert sweep.run_sweep(spec, root=root, client=dask_client)["status"] == "complete"

    page = report.build(root, tmp_path / "report.html")
    moved = tmp_path / "elsewhere" / "report.html"  # self-contained: nothing breaks when moved
    moved.parent.mkdir()
    shutil.move(page, moved)

    dom = chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", moved.as_uri())
    body = re.search(r"<body([^>]*)>", dom).group(1)
    n_imgs = len(re.findall(r"<img\b", dom))
    n_figures = sum(len(store.figures(p)) for p in shown) + 2  # + the sweep's phase diagram, curves
    assert n_imgs == n_figures
    assert f'data-figures="{n_figures}"' in body
    assert f'data-figures-decoded="{n_figures}"' in body, body
    widths = [int(w) for w in re.findall(r'data-natural-width="(\d+)"', dom)]
    assert len(widths) == n_figures and min(widths) > 0

    checks = [checks_mod.normalize(c) for p in shown for c in store.read_checks(p)]
    rows = re.findall(r'<tr class="check ([\w-]+)" data-kind="(\w+)"><td>(.*?)(?:<div|</td>)', dom)
    assert len(rows) == len(checks)
    names = {html_unescape(n) for _, _, n in rows}
    assert {c["name"] for c in checks} <= names
    assert sorted((s, k) for s, k, _ in rows) == sorted(
        (report.page._css_class(checks_mod.label(c)), c["kind"]) for c in checks
    )
    assert spec.id in dom and "8 of 8 runs stored" in dom

    shot = tmp_path / "report.png"
    chromium(tmp_path, "--window-size=1200,2400", f"--screenshot={shot}", moved.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    keep = os.environ.get("IMPLICIT_BIAS_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report.png")


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)
