"""Bad input gives one clear line and exit code 2 before any work: the examples of issue 15 §1.

Every example names the field (or option) and the allowed range, writes nothing to the store and
ends well within 5 s (no computation, no cluster).
"""

import re
import time
import warnings

import pytest
from typer.testing import CliRunner

from implicit_bias import config, experiments, runner, sweep
from implicit_bias.cli import app
from implicit_bias.errors import ConfigError, StepSizeWarning

cli = CliRunner()
experiments.names()  # imports every experiment (and JAX) once, so timings below measure the checks

EXAMPLES = [
    (["run", "dmf_identical", "--set", "tol=inf"], r"tol must be a finite float > 0 and < 1, got inf"),
    (["run", "dmf_identical", "--set", "tol=1e308"], r"tol must be .* < 1, got 1e\+308"),
    (["run", "sparse_bregman", "--set", "rel_tol=nan"], r"rel_tol must be a finite float > 0 and < 1"),
    (["run", "sparse_bregman", "--set", "rel_tol=-1"], r"rel_tol must be .*got -1.0"),
    (["run", "sparse_bregman", "--set", "rel_tol=0"], r"rel_tol must be .*got 0.0"),
    (["run", "dmf_identical", "--set", "alpha=nan"], r"alpha must be a finite float > 0 and <= 1000, got nan"),
    (["run", "dmf_identical", "--set", "alpha=1e-400"], r"'alpha'.*1e-400 underflows to 0 in float64.*alpha must be a finite float > 0"),
    (["run", "dlr_autoencoder", "--set", "delta=nan"], r"delta must be a finite float > 0 and <= 700"),
    (["run", "dmf_depth", "--set", "alpha=0"], r"alpha must be a finite float > 0 .*got 0.0"),
    (["run", "dmf_depth", "--set", "eta_fraction=0"], r"eta_fraction must be a finite float > 0 and <= 10"),
    (["run", "dmf_identical", "--set", "seed=-1"], r"seed must be an integer >= 0 .*got -1"),
    (["sweep", "dmf_identical", "--grid", "depth=0,-1"], r"depth must be an integer >= 1 and <= 100, got 0"),
    (["sweep", "dmf_identical", "--grid", "alpha=nan,inf"], r"alpha must be a finite float > 0 .*got nan"),
    (["sweep", "dmf_identical", "--grid", "alpha=,,,"], r"--grid 'alpha=,,,' gives alpha no value"),
    (["sweep", "dmf_identical", "--workers", "-1"], r"--workers must be an integer from 1 to 1024, got -1"),
    (["sweep", "dmf_identical", "--max-batch", "0"], r"--max-batch must be an integer >= 1"),
    (["sweep", "dmf_identical", "--seeds", "0-999999"], r"this sweep has 1,000,000 runs \(more than 10,000\); pass --yes"),
    (["sweep", "dmf_identical", "--seeds", "3-1"], r"seeds: expected e.g."),
    (["sweep", "dmf_identical", "--scheduler", "garbage"], r"--scheduler expects tls://HOST:PORT or tcp://HOST:PORT, got 'garbage'"),
    (["sweep", "dmf_identical", "--scheduler", "tls://127.0.0.1:1"], r"needs credentials: give --tls-ca, --tls-cert and --tls-key"),
    (["sweep", "dmf_identical", "--tls-ca", "nope.pem"], r"--tls-ca, --tls-cert and --tls-key go together"),
    (["reproduce", "--workers", "0"], r"--workers must be an integer from 1 to 1024, got 0"),
]  # fmt: skip


def _one_error_line(result, message):
    out = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert re.search(message, out), out
    assert "Traceback" not in result.output and result.output.count("error:") == 1, result.output


@pytest.mark.parametrize("args, message", EXAMPLES, ids=[" ".join(a[1:4]) for a, _ in EXAMPLES])
def test_each_example_is_one_line_naming_the_field_and_its_range(args, message, tmp_path):
    start = time.perf_counter()
    result = cli.invoke(app, [*args, "--root", str(tmp_path / "store")])
    _one_error_line(result, message)
    assert not (tmp_path / "store").exists()
    assert time.perf_counter() - start < 5.0


def test_an_unreachable_scheduler_is_an_error_within_5_s(tmp_path):
    start = time.perf_counter()
    result = cli.invoke(
        app, ["sweep", "dmf_identical", "--scheduler", "tcp://127.0.0.1:1", "--root", str(tmp_path)]
    )
    _one_error_line(result, r"cannot reach the Dask scheduler at tcp://127.0.0.1:1 within 3 s")
    assert (
        time.perf_counter() - start < 5.0 + 2.0
    )  # 3 s timeout + importing distributed on a busy box
    assert not list(tmp_path.iterdir())


SWEEP_FILES = [
    ('experiment = "dmf_identical"\nseeds = [1.5, 2.5]\n', r"list of integers >= 0, got \[1.5, 2.5\]"),
    ('experiment = "dmf_identical"\nseeds = []\n', r"got an empty list"),
    ('experiment = "dmf_identical"\nseeds = ["a"]\n', r"got \['a'\]"),
    ('experiment = "dmf_identical"\nseeds = [true]\n', r"got \[True\]"),
    ('experiment = "dmf_identical"\ngrid = 3\n', r"grid must be a table \(\[grid\] with key = value lines\), got 3"),
    ('experiment = "dmf_identical"\nset = 3\n', r"set must be a table"),
    ('experiment = "dmf_identical"\n[grid]\nalpha = []\n', r"grid.alpha is an empty list"),
    ('experiment = "dmf_identical"\n[grid]\nalpha = [0.1, nan]\n', r"alpha must be a finite float > 0"),
    ('experiment = "dmf_identical"\n[set]\nn_steps = 0\n', r"n_steps must be an integer >= 1"),
    ("experiment = 3\n", r"must name its experiment"),
    ('experiment = "dmf_identical"\nseeds = "0-20000"\n[grid]\nalpha = [0.1]\n', r"20,001 runs"),
]  # fmt: skip


@pytest.mark.parametrize("text, message", SWEEP_FILES)
def test_bad_sweep_files(text, message, tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(text)
    _one_error_line(cli.invoke(app, ["sweep", str(f), "--root", str(tmp_path / "store")]), message)
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(
    "data",
    [bytes(range(256)), 'experiment = "dmf_identical"\n'.encode("utf-16")],
    ids=["binary", "utf16"],
)
def test_binary_and_utf16_sweep_files(data, tmp_path):
    f = tmp_path / "s.toml"
    f.write_bytes(data)
    result = cli.invoke(app, ["sweep", str(f), "--root", str(tmp_path / "store")])
    _one_error_line(result, r"is not UTF-8 text \(binary, or UTF-16\?\)")


def test_paths_are_checked_before_computing(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for args, message in [
        (["run", "dmf_identical", "--out", str(a_file)], r"--out: .*a_file is an existing file"),
        (["run", "dmf_identical", "--out", str(tmp_path)], r"--out: .* is an existing folder that is not a run folder"),
        (["run", "dmf_identical", "--root", str(a_file)], r"--root: cannot create .*a_file is a file, not a folder"),
        (["sweep", "dmf_identical", "--root", str(a_file)], r"--root: .*a_file is an existing file, not a folder"),
        (["query", "SELECT 1", "--root", str(tmp_path), "--csv", str(tmp_path / "no" / "x.csv")], r"--csv: no folder"),
        (["report", "--root", str(tmp_path), "--out", str(tmp_path)], r"--out: .* is a folder, not a file"),
    ]:  # fmt: skip
        start = time.perf_counter()
        _one_error_line(cli.invoke(app, args), message)
        assert time.perf_counter() - start < 5.0
    assert a_file.read_text() == "x"


def test_python_api_validates_and_warns_about_the_step_size(tmp_path):
    module = experiments.get("dmf_identical")
    with pytest.raises(ConfigError, match=r"dmf_identical: alpha must be a finite float > 0"):
        runner.execute("dmf_identical", module.Config(alpha=float("nan")), root=tmp_path)
    with pytest.raises(ConfigError, match="expects a dmf_identical.Config"):
        runner.execute("dmf_identical", experiments.get("dmf_depth").Config(), root=tmp_path)
    with pytest.raises(ConfigError, match=r"n_saves must be an integer >= 1"):
        config.from_dict(module.Config, {"n_saves": 0}, experiment="dmf_identical")
    spec = sweep.SweepSpec("dmf_identical", {"depth": (2, 0)}, (0,), {})
    with pytest.raises(ConfigError, match=r"depth must be an integer >= 1"):
        sweep.run_sweep(spec, root=tmp_path)  # refused before any cluster starts
    assert not list(tmp_path.iterdir())
    # η = 0.01 is above the depth-3 bound of eq. (8) (≈ 0.0066): the API warns, as the CLI notes
    cfg = config.apply_overrides(module.Config(), {"eta": 0.01, "n_steps": 200, "n_saves": 10})
    with pytest.warns(StepSizeWarning, match="stable bound"):
        outcome = runner.execute("dmf_identical", cfg, root=tmp_path, plot=False)
    assert any("stable bound" in n for n in outcome.notes)
    # cached: --strict refuses a stored run that was computed above the bound
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = runner.execute("dmf_identical", cfg, root=tmp_path, plot=False)
    assert again.cached
    with pytest.raises(
        ConfigError, match=r"refused under --strict: the stored run .* stable bound"
    ):
        runner.execute("dmf_identical", cfg, root=tmp_path, plot=False, strict=True)
