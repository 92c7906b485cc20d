"""The command line end to end: run, cache, errors, reproduce and the report."""

import json
import re

import pytest
from typer.testing import CliRunner

from implicit_bias.cli import app

runner = CliRunner()
TINY_IDENTICAL = ["--set", "n_steps=2000", "--set", "n_saves=50", "--set", "tol=1e-3"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_list_names_every_experiment():
    result = invoke("list")
    assert result.exit_code == 0
    for name in ("dmf_identical", "dmf_perturbed", "dmf_depth", "dmf_effective_rank"):
        assert name in result.stdout


def test_run_writes_the_store_and_is_cached(tmp_path):
    result = invoke("run", "dmf_identical", *TINY_IDENTICAL, "--root", tmp_path, "--fail-on-check")
    assert result.exit_code == 0, result.stdout
    (run_dir,) = (tmp_path / "dmf_identical").iterdir()
    assert {p.name for p in run_dir.iterdir()} >= {
        "config.json",
        "rows.parquet",
        "checks.json",
        "eigenvalues.png",
    }
    checks = json.loads((run_dir / "checks.json").read_text())
    assert checks and set(checks[0]) >= {"name", "predicted", "observed", "tolerance", "passed"}
    assert all(c["kind"] in ("claim", "hypothesis", "sanity") and c["status"] for c in checks)
    assert "diagonal reduction" in result.stdout  # says which path ran
    out = " ".join(result.stdout.split())
    counts = r"claims (\d+)/\1 · certified \d+ · hypotheses met \d+/\d+ · sanity (\d+)/\2"
    assert re.search(counts, out), out
    meta = json.loads((run_dir / "config.json").read_text())
    assert meta["claims_total"] == sum(c["kind"] == "claim" for c in checks)
    again = invoke("run", "dmf_identical", *TINY_IDENTICAL, "--root", tmp_path)
    assert "cached" in again.stdout


def test_run_into_an_explicit_folder(tmp_path):
    out = tmp_path / "mine"
    result = invoke("run", "dmf_identical", *TINY_IDENTICAL, "--out", out)
    assert result.exit_code == 0 and (out / "config.json").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "nope"], "unknown experiment 'nope'"),
        (["run", "dmf_identical", "--set", "alpah=1"], "valid keys: spectrum, depth, alpha"),
        (["run", "dmf_identical", "--set", "depth=x"], "expects int"),
        (["run", "dmf_identical", "--set", "depth=0"], "depth must be an integer >= 1"),
        (
            ["run", "dmf_identical", "--set", "eta=0.01", "--strict"],
            r"refused under --strict.*eq. \(8\)",
        ),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(args, message, tmp_path):
    result = runner.invoke(app, args + ["--root", str(tmp_path)])
    assert result.exit_code == 2
    assert re.search(message, " ".join(result.output.split()))
    assert "Traceback" not in result.output


def test_step_size_warning_and_divergence_are_recorded(tmp_path):
    result = invoke(
        "run",
        "dmf_identical",
        "--set",
        "eta=0.2",
        "--set",
        "n_steps=1000",
        "--set",
        "n_saves=10",
        "--root",
        tmp_path,
    )
    assert result.exit_code == 3
    text = " ".join(result.output.split())
    assert "not below the stable bound eq. (8)" in text
    assert re.search(r"diverged at step \d+", text)
    (run_dir,) = (tmp_path / "dmf_identical").iterdir()
    error = json.loads((run_dir / "error.json").read_text())
    assert error["type"] == "DivergenceError" and error["step"] > 0
    assert json.loads((run_dir / "config.json").read_text())["status"] == "failed"


def test_reproduce_and_report(tmp_path):
    # --tiny: every experiment at its TINY config; four of them, from three seeds, in two processes
    from implicit_bias import experiments

    names = ["dmf_identical", "dmf_perturbed", "sgd_2x2", "dlr_autoencoder"]
    only = [a for n in names for a in ("--only", n)]
    result = invoke(
        "reproduce", "--root", tmp_path, "--tiny", "--workers", 2, *only, "--fail-on-check"
    )
    assert result.exit_code == 0, result.stdout
    assert result.stdout.count(": done in") == len(names)
    out = " ".join(result.stdout.split())  # counts by kind per run and in total
    counts = r"claims \d+/\d+ · certified \d+ · hypotheses met \d+/\d+ · sanity \d+/\d+"
    assert len(re.findall(counts, out)) == len(names) + 1
    assert re.search(r"4 experiments: claims (\d+)/\1 ", out), out
    page = (tmp_path / "report.html").read_text()
    assert page.count("<img") >= len(names)
    assert 'class="check fail"' not in page and 'class="check pass"' in page
    assert "data:image/png;base64," in page and 'src="http' not in page
    assert page.count("Not run yet") == len(experiments.names()) - len(names)
    # in one process, the same configs come from the store
    again = invoke("reproduce", "--root", tmp_path, "--tiny", "--workers", 1, *only)
    assert again.exit_code == 0 and again.stdout.count(": cached in") == len(names)
    out = tmp_path / "elsewhere" / "r.html"
    assert invoke("report", "--root", tmp_path, "--out", out).exit_code == 0
    assert out.read_text().count("<img") == page.count("<img")


def test_explore_is_built_only_when_a_command_line_needs_it(tmp_path):
    """Every verb but ``explore`` starts without explore's modules (they import pandas and the
    explore package: ~0.3 s of the 0.5 s that ``query`` may take at 10⁵ runs, issue 24); the help
    still lists explore where it stood (after query), and ``explore --help`` works. The time goes
    to one Python process that imports the CLI and DuckDB (~1 s)."""
    import subprocess
    import sys

    code = (
        "import sys; from typer.testing import CliRunner; from implicit_bias.cli import app; "
        f"r = CliRunner().invoke(app, ['query', 'SELECT 1 AS x', '--root', {str(tmp_path)!r}]); "
        "assert r.exit_code == 0, r.output; "
        "print(sorted(m for m in sys.modules if m.startswith(('implicit_bias.explore', 'pandas'))))"
    )  # nor pandas: a table to print is DuckDB's fetchall (pandas is ~0.2 s of start-up)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
    listed = re.findall(r"^│ (\w+) ", invoke("--help").stdout, flags=re.MULTILINE)
    assert listed[listed.index("query") : listed.index("query") + 3] == [
        "query", "explore", "report"
    ]  # fmt: skip
    result = invoke("explore", "--help")
    assert result.exit_code == 0 and "Ask your own question" in " ".join(result.stdout.split())
    typo = runner.invoke(app, ["explor"])
    assert typo.exit_code == 2 and "Did you mean 'explore'" in typo.output


def test_query_prints_sql_null_as_null_and_floats_to_six_digits(tmp_path):
    """The table is printed from DuckDB's tuples (no DataFrame): NULL, not None or nan."""
    result = invoke("query", "SELECT NULL AS a, 1.23456789 AS b, 'x' AS c", "--root", str(tmp_path))
    assert result.exit_code == 0, result.output
    line = [s for s in result.stdout.splitlines() if "1.23457" in s]
    assert line and "NULL" in line[0] and "None" not in line[0] and "nan" not in line[0], result.stdout
