"""Where the CLI writes, checked before any work; what it prints, fitted to an 80-column terminal.

Every refusal is one line ``error: …`` on stderr, exit code 2, no traceback, and leaves special
files alone (as root, ``report --out /dev/full`` once replaced the device node by a rename).
``query`` refuses empty SQL, says "no rows" for an empty result and stops a runaway query at
``--timeout``. The checks table and ``query``'s table fit 80 columns.
"""

import errno
import io
import os
import re
import stat
import time

import pytest
from rich.console import Console
from typer.testing import CliRunner

from conftest import one_run_store
from implicit_bias import cli as cli_mod, query, report, store
from implicit_bias.cli import app
from implicit_bias.errors import ConfigError

cli = CliRunner()
SPECIAL = [p for p in ("/dev/null", "/dev/full") if os.path.exists(p)]


def refused(args, message: str, *, within: float = 5.0):
    """Run the CLI in-process: exit code 2, one line on stderr that starts with ``error:`` and
    matches ``message``, no traceback, within ``within`` seconds."""
    start = time.perf_counter()
    result = cli.invoke(app, [str(a) for a in args])
    elapsed = time.perf_counter() - start
    lines = result.stderr.splitlines()
    assert result.exit_code == 2, (args, result.output)
    assert len(lines) == 1 and lines[0].startswith("error:"), (args, result.stderr)
    assert re.search(message, lines[0]), (message, lines[0])
    assert "Traceback" not in result.output, result.output
    assert elapsed < within, (args, elapsed)
    return result


@pytest.fixture
def root(tmp_path):
    """A store with one hand-written run (nothing computed)."""
    return one_run_store(tmp_path / "store")


def _device(path):
    st = os.stat(path)
    return stat.S_ISCHR(st.st_mode), st.st_rdev


# --- 1. output paths, before any work ----------------------------------------------------------


def test_reproduce_refuses_a_report_folder_before_running_anything(tmp_path):
    folder = tmp_path / "a_folder"
    folder.mkdir()
    refused(["reproduce", "--root", tmp_path / "store", "--report", folder, "--only", "sgd_2x2"],
            r"--report: .*a_folder is a folder, not a file")  # fmt: skip
    assert not (tmp_path / "store" / "sgd_2x2").exists()  # nothing ran


@pytest.mark.parametrize("device", SPECIAL)
def test_reproduce_refuses_a_device_as_report(tmp_path, device):
    refused(["reproduce", "--root", tmp_path / "store", "--report", device, "--only", "sgd_2x2"],
            r"--report: .* is not a regular file")  # fmt: skip
    assert not (tmp_path / "store" / "sgd_2x2").exists()


def test_report_refuses_proc(root):
    refused(["report", "--root", root, "--out", "/proc/report.html"], r"--out: .* is on /proc")


def test_report_refuses_a_read_only_folder(root, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)  # refused by its mode bits, even for root
    try:
        refused(
            ["report", "--root", root, "--out", ro / "r.html"],
            r"--out: cannot write .*ro is read-only",
        )
        assert not list(ro.iterdir())
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize("device", SPECIAL)
def test_report_never_replaces_a_device(root, device):
    before = _device(device)
    refused(["report", "--root", root, "--out", device], rf"--out: {device} is not a regular file")
    assert _device(device) == before and before[0]


@pytest.mark.parametrize("device", SPECIAL)
def test_report_api_never_replaces_a_device(root, device):
    before = _device(device)
    with pytest.raises(ConfigError, match="not a regular file"):
        report.build(root, device)
    assert _device(device) == before


def test_report_into_a_missing_folder_and_over_a_file_still_work(root, tmp_path):
    out = tmp_path / "new" / "r.html"
    assert cli.invoke(app, ["report", "--root", str(root), "--out", str(out)]).exit_code == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    link = tmp_path / "link.html"
    link.symlink_to(out)  # a link to a file: the file is written, the link kept
    assert cli.invoke(app, ["report", "--root", str(root), "--out", str(link)]).exit_code == 0
    assert link.is_symlink() and link.read_text().startswith("<!DOCTYPE html>")
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary left


@pytest.mark.parametrize("device", SPECIAL)
def test_query_csv_refuses_a_device(root, device):
    before = _device(device)
    refused(
        ["query", "SELECT 1 AS a", "--root", root, "--csv", device],
        rf"--csv: {device} is not a regular file",
    )
    assert _device(device) == before


def test_query_csv_refuses_proc(root):
    refused(
        ["query", "SELECT 1 AS a", "--root", root, "--csv", "/proc/x.csv"], r"--csv: .* is on /proc"
    )


def test_query_csv_oserror_while_writing_is_one_line(root, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "replace", full)
    out = tmp_path / "x.csv"
    refused(["query", "SELECT 1 AS a", "--root", root, "--csv", out],
            r"--csv: cannot write .*x.csv: No space left on device")  # fmt: skip
    assert not list(tmp_path.glob(".x.csv*"))  # the half-written file is removed


def test_report_oserror_while_writing_is_one_line(root, tmp_path, monkeypatch):
    monkeypatch.setattr(
        store.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error"))
    )
    refused(
        ["report", "--root", root, "--out", tmp_path / "r.html"],
        r"--out: cannot write .*r.html: I/O error",
    )


ROOT_VERBS = [
    ["run", "dmf_identical"],
    ["reproduce", "--only", "dmf_identical"],
    ["sweep", "dmf_identical"],
    ["query", "SELECT 1"],
    ["report"],
    ["verify"],
]


@pytest.mark.parametrize("args", ROOT_VERBS, ids=[a[0] for a in ROOT_VERBS])
def test_root_that_is_a_file_is_refused_by_every_verb(args, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    refused([*args, "--root", a_file], r"--root: .*a_file is (a file|an existing file)")
    assert a_file.read_text() == "x"


@pytest.mark.parametrize("args", ROOT_VERBS[:3], ids=[a[0] for a in ROOT_VERBS[:3]])
def test_root_on_proc_is_refused_by_every_writing_verb(args):
    refused([*args, "--root", "/proc/implicit-bias-store"], r"--root: .* is on /proc")


def test_run_out_on_a_device_is_refused():
    refused(["run", "dmf_identical", "--out", "/dev/null"], r"--out: /dev/null is an existing file")


def test_check_output_file_api(tmp_path):
    f = tmp_path / "f.txt"
    f.write_text("x")
    link = tmp_path / "l.txt"
    link.symlink_to(f)
    assert store.check_output_file(link, "--x") == f.resolve()
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"--x: .*p is not a regular file"):
        store.check_output_file(fifo, "--x")
    with pytest.raises(ConfigError, match=r"--x: \. is a folder, not a file"):
        store.check_output_file("", "--x")  # Path("") is the working folder
    with pytest.raises(ConfigError, match=r"--x: cannot use"):
        store.check_output_file(tmp_path / ("n" * 5000), "--x")


# --- 2. query --------------------------------------------------------------------------------


@pytest.mark.parametrize("sql", ["", "   ", "\n\t"], ids=["empty", "spaces", "newline-tab"])
def test_query_empty_sql_is_one_line(root, sql):
    refused(["query", sql, "--root", root], r"the SQL is empty")


def test_query_no_rows_is_one_line(root):
    result = cli.invoke(app, ["query", "SELECT * FROM runs WHERE false", "--root", str(root)])
    assert result.exit_code == 0 and result.stdout.strip().startswith("no rows"), result.output
    assert len(result.stdout.splitlines()) == 1


def test_query_no_columns_or_no_result_is_one_line(root):
    result = cli.invoke(app, ["query", "--root", str(root), "--", "-- only a comment"])
    assert result.exit_code == 0 and result.stdout.strip() == "no rows", result.output


def test_query_stops_at_its_timeout(root):
    refused(["query", "SELECT count(*) FROM range(1e13::BIGINT)", "--root", root, "--timeout", "0.5"],
            r"query stopped after 0.5 s \(--timeout 0.5; raise it, or --timeout 0 for no limit\)",
            within=10.0)  # fmt: skip


def test_query_timeout_defaults_to_60_s_and_0_lifts_it(root):
    import inspect

    assert inspect.signature(cli_mod.query).parameters["timeout"].default == 60.0
    assert query.query("SELECT 1 AS a", root, timeout=None)["a"].item() == 1
    result = cli.invoke(app, ["query", "SELECT 42 AS a", "--root", str(root), "--timeout", "0"])
    assert result.exit_code == 0 and "42" in result.stdout
    with pytest.raises(query.QueryTimeout):
        query.query("SELECT count(*) FROM range(1e13::BIGINT)", root, timeout=0.3)


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "abc"])
def test_query_bad_timeout(root, value):
    refused(["query", "SELECT 1", "--root", root, "--timeout", value], r"--timeout")


def test_query_api_refuses_empty_sql(root):
    with pytest.raises(ConfigError, match="the SQL is empty"):
        query.query("  ", root)


# --- 3. tables fit 80 columns ------------------------------------------------------------------


def _render(fn, width=80) -> list[str]:
    con = Console(width=width, record=True, file=io.StringIO())
    fn(con)
    return con.export_text().splitlines()


LONG = "seed 004, linear auto-encoder: the trace norm witnesses the increasing rank of W"
CHECKS = [
    {"name": f"L = 2: trace norm = {k} on plateau {k} " + "and a long explanation " * (k % 4),
     "predicted": float(k), "observed": k + 1e-3, "tolerance": 0.05, "passed": k != 3,
     "kind": ("claim", "hypothesis", "sanity")[k % 3], "source": LONG,
     "basis": "the plateau claims' own tolerance: the limit δ → ∞ is within it at this δ " * 2,
     "loss": 1e-9 if k % 2 else None, "loss_tol": 1e-6 if k % 2 else None,
     "status": ("pass", "fail", "unconverged", "outside")[k % 4]}
    for k in range(15)
]  # fmt: skip


def test_checks_fit_80_columns_in_at_most_4_lines_each():
    found = [*CHECKS, {**CHECKS[0], "name": "a name of many words " * 20, "source": "s" * 300}]
    lines = _render(
        lambda con: cli_mod.print_checks(found, "dlr_autoencoder: theory checks", out=con)
    )
    assert max(map(len, lines)) <= 80, max(lines, key=len)
    assert len(lines) <= 4 * len(found) + 2, len(lines)
    text = "\n".join(lines)
    for status in ("pass", "FAIL", "unconverged", "outside"):
        assert status in text
    assert "…" in text and "cells cut to 80 columns" in text


def test_checks_are_one_whole_table_when_wide():
    lines = _render(lambda con: cli_mod.print_checks(CHECKS[:2], out=con), width=200)
    text = " ".join(" ".join(lines).split())
    assert "source · basis" in text and "…" not in text


def test_checks_built_as_the_experiments_build_them_fit_80_columns():
    """Checks made by the helpers the experiments use (resolved: a claim whose hypothesis is not
    met reads "outside the theorem"; one at an unconverged run "unconverged")."""
    from implicit_bias import checks as checks_mod

    h = "δ large enough: the exact recursion is within the tolerances on every plateau"
    found = [checks_mod.hypothesis(h, False, predicted="≤ 0.05", observed=0.2, source=LONG)]
    for k in range(12):
        found.append(checks_mod.close(
            f"L = 2: reconstruction error = ½Σ_(i>{k}) λ_i on plateau {k}", 7.5, 7.4856, 0.4,
            source=LONG, basis="the plateau's own tolerance " * 3, requires=(h,) if k % 3 else (),
            loss=1e-3 if k % 4 == 1 else 1e-12, loss_tol=1e-9,
        ))  # fmt: skip
    found = [c.to_dict() for c in checks_mod.resolve(found)]
    lines = _render(lambda con: cli_mod.print_checks(found, out=con))
    assert max(map(len, lines)) <= 80 and len(lines) <= 4 * len(found) + 2, len(lines)
    assert "outside" in "\n".join(lines) and "unconverged" in "\n".join(lines)


def test_query_table_fits_80_columns(root, monkeypatch):
    recorded = Console(width=80, record=True, file=io.StringIO())
    monkeypatch.setattr(cli_mod, "console", recorded)
    sql = "SELECT " + ", ".join(f"repeat('x', {5 * k}) AS column_{k}" for k in range(1, 25)) + \
          ", '[/bold]' AS markup FROM range(60)"  # fmt: skip
    result = cli.invoke(app, ["query", sql, "--root", str(root)])
    assert result.exit_code == 0, result.output
    lines = recorded.export_text().splitlines()
    assert max(map(len, lines)) <= 80, max(lines, key=len)
    assert len(lines) <= 50 + 6  # one line a row (--limit 50), borders, two notes
    assert any("more columns not shown" in line for line in lines)
    assert any("10 more rows" in line for line in lines)
