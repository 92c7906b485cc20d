"""Bad input to every verb but ``explore`` (fuzzed on its own): one line, exit code 2, no work.

For each verb a table of bad inputs (unknown flags, missing and extra arguments, negative, NaN,
huge, empty and wrongly typed values, unknown keys, bad paths, special files, sweep files that are
binary, UTF-16, empty, folders, FIFOs or endless devices) runs in-process and must end with exit
code 2, exactly one line on stderr that starts with ``error:``, nothing on stdout, no traceback,
nothing written to the store and within a few seconds: every one is refused before any work.
Then the constraints between config fields (``Config.check``, called by ``config.validate``) are
refused the same way through ``run --set``, sweep grids, sweep files and the Python API; and a
small random fuzz (hypothesis) of SQL text and sweep-file bytes.
"""

import os
import re
import time

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from typer.testing import CliRunner

from implicit_bias import config, experiments, runner, sweep
from implicit_bias.cli import app
from implicit_bias.errors import ConfigError

cli = CliRunner()
experiments.names()  # imports every experiment (and JAX) once: the timings below are the checks'

BOUND_S = 10.0  # every case: a refusal costs ~0.1 s (a query loads its store), a hang far more


def refused(args, store_dir, *, bound: float = BOUND_S):
    start = time.perf_counter()
    result = cli.invoke(app, [str(a) for a in args])
    elapsed = time.perf_counter() - start
    err = result.stderr.splitlines()
    assert result.exit_code == 2, (args, result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output, (args, result.output)
    assert len(err) == 1 and err[0].startswith("error: "), (args, result.stderr)
    assert result.stdout == "", (args, result.stdout)
    assert not os.path.exists(store_dir / "dmf_identical"), args  # nothing ran
    assert elapsed < bound, (args, elapsed)
    return err[0]


# --- the table of bad inputs, per verb ------------------------------------------------------------

S = "{store}"  # the test's store folder
F = "{file}"  # an existing regular file
D = "{folder}"  # an existing folder (not a store)
RO = "{ro}"  # a read-only folder

RUN = [
    ["run"], ["run", "nope"], ["run", ""], ["run", "DMF_IDENTICAL"], ["run", "../dmf_identical"],
    ["run", "dmf_identical", "extra"], ["run", "dmf_identical", "--bogus"],
    ["run", "dmf_identical", "--set"], ["run", "dmf_identical", "--set", "alpha"],
    ["run", "dmf_identical", "--set", "=1"], ["run", "dmf_identical", "--set", "alpah=1"],
    ["run", "dmf_identical", "--set", "alpha="], ["run", "dmf_identical", "--set", "alpha=nan"],
    ["run", "dmf_identical", "--set", "alpha=-1"], ["run", "dmf_identical", "--set", "alpha=1e400"],
    ["run", "dmf_identical", "--set", "alpha=1e-400"], ["run", "dmf_identical", "--set", "alpha=abc"],
    ["run", "dmf_identical", "--set", "alpha=☃"], ["run", "dmf_identical", "--set", "alpha=0x1"],
    ["run", "dmf_identical", "--set", "depth=2.5"], ["run", "dmf_identical", "--set", "depth=1e12"],
    ["run", "dmf_identical", "--set", "depth=true"], ["run", "dmf_identical", "--set", "seed=-1"],
    ["run", "dmf_identical", "--set", "seed=99999999999999999999"],
    ["run", "dmf_identical", "--set", "n_steps=1e30"], ["run", "dmf_identical", "--set", "spectrum="],
    ["run", "dmf_identical", "--set", "spectrum=(1,,2)"], ["run", "dmf_identical", "--set", "spectrum=[]"],
    ["run", "dmf_identical", "--set", "spectrum=1,nan"], ["run", "dmf_identical", "--set", "tol=1"],
    ["run", "dmf_identical", "--out", "/dev/null"], ["run", "dmf_identical", "--out", "/proc/x"],
    ["run", "dmf_identical", "--out", F], ["run", "dmf_identical", "--out", RO + "/x"],
    ["run", "dmf_identical", "--root", F], ["run", "dmf_identical", "--root", "/proc/x"],
    ["run", "dmf_identical", "--root", RO], ["run", "dmf_identical", "--fail-on-check=maybe"],
    ["run", "sensing_lowrank_depth", "--set", "rank=30"],
    ["run", "sgd_one_way", "--set", "n_starts=5"], ["run", "sensing_exhaustive3x3", "--set", "m=7"],
]  # fmt: skip

REPRODUCE = [
    ["reproduce", "--bogus"], ["reproduce", "extra"], ["reproduce", "--workers", "0"],
    ["reproduce", "--workers", "-1"], ["reproduce", "--workers", "99999"],
    ["reproduce", "--workers", "abc"], ["reproduce", "--workers", "1e3"],
    ["reproduce", "--seeds", ""], ["reproduce", "--seeds", "a"], ["reproduce", "--seeds", "3-1"],
    ["reproduce", "--seeds", "-1"], ["reproduce", "--seeds", "1.5"],
    ["reproduce", "--seeds", "0-99999999999"], ["reproduce", "--only", "nope"],
    ["reproduce", "--only", ""], ["reproduce", "--report", D], ["reproduce", "--report", "/dev/null"],
    ["reproduce", "--report", "/proc/r.html"], ["reproduce", "--report", RO + "/r.html"],
    ["reproduce", "--root", F], ["reproduce", "--root", "/proc/x"], ["reproduce", "--root", RO],
]  # fmt: skip

SWEEP = [
    ["sweep"], ["sweep", "nope"], ["sweep", ""], ["sweep", "dmf_identical", "--bogus"],
    ["sweep", "dmf_identical", "--grid", "alpha"], ["sweep", "dmf_identical", "--grid", "alpha="],
    ["sweep", "dmf_identical", "--grid", "=1"], ["sweep", "dmf_identical", "--grid", "alpah=1"],
    ["sweep", "dmf_identical", "--grid", "alpha=nan,inf"], ["sweep", "dmf_identical", "--grid", "alpha=,,,"],
    ["sweep", "dmf_identical", "--grid", "seed=1,2"], ["sweep", "dmf_identical", "--seeds", "x"],
    ["sweep", "dmf_identical", "--seeds", "0-99999"], ["sweep", "dmf_identical", "--set", "alpha"],
    ["sweep", "dmf_identical", "--workers", "0"], ["sweep", "dmf_identical", "--max-batch", "0"],
    ["sweep", "dmf_identical", "--max-batch", "-5"], ["sweep", "dmf_identical", "--scheduler", "garbage"],
    ["sweep", "dmf_identical", "--tls-ca", "nope.pem"], ["sweep", "dmf_identical", "--root", F],
    ["sweep", "dmf_identical", "--root", "/proc/x"], ["sweep", "dmf_identical", "--root", RO],
    ["sweep", "sensing_completion_depth", "--grid", "few=7,250"],
    ["sweep", "sparse_phase", "--set", "x0s=1e-6"],
]  # fmt: skip

SWEEP_FILES = {
    "binary": bytes(range(256)),
    "utf16": 'experiment = "dmf_identical"\n'.encode("utf-16"),
    "latin1": 'experiment = "dmf_identical" # caf\xe9\n'.encode("latin-1"),
    "nul": b'experiment = "dmf_identical"\x00\n',
    "empty": b"",
    "not toml": b"experiment: dmf_identical\n",
    "unknown key": b'experiment = "dmf_identical"\ncolour = 1\n',
    "no experiment": b"[grid]\nalpha = [0.1]\n",
    "unknown experiment": b'experiment = "nope"\n',
    "experiment not a string": b"experiment = 3\n",
    "grid not a table": b'experiment = "dmf_identical"\ngrid = 3\n',
    "empty grid list": b'experiment = "dmf_identical"\n[grid]\nalpha = []\n',
    "bad grid value": b'experiment = "dmf_identical"\n[grid]\nalpha = [0.1, -1]\n',
    "unknown grid key": b'experiment = "dmf_identical"\n[grid]\nalpah = [0.1]\n',
    "bad seeds": b'experiment = "dmf_identical"\nseeds = [1.5]\n',
    "too many runs": b'experiment = "dmf_identical"\nseeds = "0-20000"\n',
    "cross-field": b'experiment = "sensing_lowrank_depth"\n[set]\nrank = 30\n',
    "huge": b"# " + b"x" * (1 << 20) + b'\nexperiment = "dmf_identical"\n',
}


def _special_sweep_files(tmp):
    """Paths ending in .toml that are not regular files: refused without reading them."""
    (tmp / "folder.toml").mkdir()
    os.mkfifo(tmp / "fifo.toml")  # reading would block forever
    (tmp / "zero.toml").symlink_to("/dev/zero")  # reading would never end
    (tmp / "dangling.toml").symlink_to(tmp / "nowhere")
    return ["folder.toml", "fifo.toml", "zero.toml", "dangling.toml", "missing.toml"]


QUERY = [
    ["query"], ["query", ""], ["query", "   "], ["query", "\n\t"], ["query", "SELEC 1"],
    ["query", "SELECT * FROM nope"], ["query", "SELECT *"], ["query", "SELECT '\udcff'"],
    ["query", "SELECT 1", "--bogus"], ["query", "SELECT 1", "extra"],
    ["query", "COPY runs TO '{folder}/x.csv'"], ["query", "SELECT * FROM read_text('/etc/passwd')"],
    ["query", "SET enable_external_access = true"], ["query", "SELECT 1", "--csv", D],
    ["query", "SELECT 1", "--csv", "/dev/null"], ["query", "SELECT 1", "--csv", "/proc/x.csv"],
    ["query", "SELECT 1", "--csv", D + "/no/x.csv"], ["query", "SELECT 1", "--csv", RO + "/x.csv"],
    ["query", "SELECT 1", "--limit", "-1"], ["query", "SELECT 1", "--limit", "abc"],
    ["query", "SELECT 1", "--limit", "1e99"], ["query", "SELECT 1", "--timeout", "-1"],
    ["query", "SELECT 1", "--timeout", "nan"], ["query", "SELECT 1", "--timeout", "inf"],
    ["query", "SELECT 1", "--timeout", "x"], ["query", "SELECT 1", "--root", F],
    ["query", "SELECT count(*) FROM range(1e13::BIGINT)", "--timeout", "0.3"],
]  # fmt: skip

REPORT = [
    ["report", "--bogus"], ["report", "extra"], ["report", "--out", D], ["report", "--out", ""],
    ["report", "--out", "/dev/null"], ["report", "--out", "/proc/r.html"],
    ["report", "--out", "/sys/r.html"], ["report", "--out", RO + "/r.html"],
    ["report", "--root", F], ["report", "--root", "/proc/x"], ["report", "--root", RO],
]  # fmt: skip

VERIFY = [
    ["verify", "--bogus"], ["verify", "extra"], ["verify", "--root", F],
    ["verify", "--root", D + "/missing"],
    ["verify", "--repair", "--root", RO], ["verify", "--repair=maybe"],
]  # fmt: skip

LIST = [["list", "--bogus"], ["list", "extra"], ["--bogus"], ["nope"]]

TABLE = [*RUN, *REPRODUCE, *SWEEP, *QUERY, *REPORT, *VERIFY, *LIST]
ROOTED = {"run", "reproduce", "sweep", "query", "report", "verify"}


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz_verbs")
    (tmp / "a_file").write_text("x")
    (tmp / "a_folder").mkdir()
    ro = tmp / "read_only"
    ro.mkdir()
    ro.chmod(0o555)
    for name, data in SWEEP_FILES.items():
        (tmp / f"{name.replace(' ', '_')}.toml").write_bytes(data)
    specials = _special_sweep_files(tmp)
    yield tmp, specials
    ro.chmod(0o755)


def _fill(args, tmp):
    store_dir = tmp / "store"
    values = {"store": store_dir, "file": tmp / "a_file", "folder": tmp / "a_folder", "ro": tmp / "read_only"}  # fmt: skip
    out = [
        str(a).format(**values) if "{" in str(a) and "range" not in str(a) else str(a) for a in args
    ]
    if out and out[0] in ROOTED and "--root" not in out:
        out += ["--root", str(store_dir)]
    return out, store_dir


@pytest.mark.parametrize("args", TABLE, ids=[" ".join(a)[:60] for a in TABLE])
def test_bad_input_is_refused_in_one_line(args, places):
    tmp, _ = places
    filled, store_dir = _fill(args, tmp)
    refused(filled, store_dir)


@pytest.mark.parametrize("name", [n.replace(" ", "_") for n in SWEEP_FILES])
def test_bad_sweep_files_are_refused_in_one_line(name, places):
    tmp, _ = places
    refused(["sweep", str(tmp / f"{name}.toml"), "--root", str(tmp / "store")], tmp / "store")


def test_special_sweep_files_are_never_read(places):
    tmp, specials = places
    for name in specials:
        line = refused(["sweep", str(tmp / name), "--root", str(tmp / "store")], tmp / "store")
        assert re.search(r"folder|not a regular file|no such file", line), line


def test_a_sweep_file_with_grid_flags_is_refused(places):
    tmp, _ = places
    f = tmp / "ok.toml"
    f.write_text('experiment = "dmf_identical"\n')
    line = refused(
        ["sweep", str(f), "--grid", "alpha=0.1", "--root", str(tmp / "store")], tmp / "store"
    )
    assert "already fixes" in line


# --- constraints between config fields -----------------------------------------------------------

# (experiment, overrides that break one constraint, the two fields its message names)
CONSTRAINTS = [
    ("sensing_completion_depth", {"few": 7}, ("few", "ms")),
    ("sensing_lowrank_depth", {"rank": 30}, ("rank", "n")),
    ("sensing_completion_depth", {"etas": (0.5, 0.02)}, ("etas", "depths")),
    ("sensing_completion_depth", {"depths": (1, 5)}, ("etas", "depths")),
    ("sensing_completion_depth", {"n": 10, "ms": (50, 150), "few": 50}, ("ms", "n")),
    ("sensing_completion_depth", {"m_init": 901}, ("m_init", "n")),
    ("sensing_completion_depth", {"rank": 31}, ("rank", "n")),
    ("sensing_lowrank_depth", {"rank": 21}, ("rank", "n")),
    ("sensing_gaussian", {"rank": 51}, ("rank", "n")),
    ("sensing_commuting", {"k": 11}, ("k", "n")),
    ("sensing_product_flow", {"rank_k": 4}, ("rank_k", "n")),
    ("sensing_product_flow", {"m": 10}, ("m", "n")),
    ("arora2019", {"rank": 101}, ("rank", "n")),
    ("arora2019", {"m": 10_001}, ("m", "n")),
    ("sgd_completion", {"rank": 21}, ("rank", "n")),
    ("sgd_completion", {"m": 401}, ("m", "n")),
    ("sgd_completion", {"save_every": 7}, ("save_every", "n_steps")),
    ("sgd_completion", {"eta": 1.0, "lam": 0.5}, ("eta", "lam")),
    ("sgd_2x2", {"save_every": 300}, ("save_every", "n_steps")),
    ("sgd_2x2", {"offshoot_eta": 10.0, "offshoot_lam": 0.1}, ("offshoot_eta", "offshoot_lam")),
    ("sgd_2x2", {"offshoot_steps": 125}, ("offshoot_steps", "50")),
    ("sgd_razin_cohen", {"sgd_steps": 49}, ("sgd_steps", "50")),
    ("sgd_one_way", {"n_starts": 5}, ("n_starts", "min_starts")),
    ("sgd_one_way", {"n_inside": 5}, ("n_inside", "min_starts")),
    ("sgd_one_way", {"n_init": 5}, ("n_init", "min_starts")),
    ("sgd_one_way", {"lam0": 0.5}, ("lams", "lam0")),
    ("sgd_one_way", {"save_every": 7}, ("save_every", "n_steps")),
    ("sgd_one_way", {"etas": (0.05, 20.0)}, ("etas", "lams")),
    ("sparse_bregman", {"s": 31}, ("s", "n")),
    ("sparse_noisy", {"s": 61}, ("s", "n")),
    ("sparse_positive", {"s": 41}, ("s", "n")),
    ("sparse_signed", {"s": 41}, ("s", "n")),
    ("sparse_weightnorm", {"s": 41}, ("s", "n")),
    ("sparse_weighted", {"s": 31}, ("s", "n")),
    ("sparse_weighted", {"alphas": (1e-4,)}, ("alphas", "depths")),
    ("sparse_weighted", {"depths": (2, 4), "alphas": (1e-4, 1e-3)}, ("depths", "4")),
    ("sparse_phase", {"x0s": (1e-12,)}, ("x0s", "depths")),
    ("dlr_autoencoder", {"n": 3}, ("n", "lam")),
    ("dlr_autoencoder", {"eta": 0.1}, ("eta", "lam")),
    ("dlr_closed_form", {"d": 5}, ("sigma", "d")),
    ("dlr_closed_form", {"hidden": 2}, ("hidden", "sigma")),
    ("dlr_closed_form", {"delta": (2.0, 2.5)}, ("delta", "sigma")),
    ("dlr_closed_form", {"eta": 0.2}, ("eta", "sigma")),
    ("dlr_sequential", {"sigma": (8.0, 4.0, 2.0)}, ("sigma", "lam")),
    ("dlr_sequential", {"hidden": 3}, ("hidden", "sigma")),
    ("dlr_sequential", {"sigma": (1.0, 2.0, 3.0, 4.0)}, ("sigma", "decreasing")),
    ("dlr_sequential", {"eta": 0.1}, ("eta", "sigma")),
    ("dlr_robustness", {"lam": (2.0, 1.5, 1.0)}, ("sigma", "lam")),
    ("dlr_robustness", {"eps": (0.0, 1.0)}, ("eps", "lam")),
    ("dlr_robustness", {"delta": 0.1, "lam": (2.0, 1.5, 1.0, 2.0)}, ("delta", "lam")),
]
IDS = [f"{n} {' '.join(o)}" for n, o, _ in CONSTRAINTS]


def _text(v) -> str:
    return ",".join(map(str, v)) if isinstance(v, tuple) else str(v)


@pytest.mark.parametrize("name, overrides, fields", CONSTRAINTS, ids=IDS)
def test_constraint_refused_by_the_python_api(name, overrides, fields, tmp_path):
    module = experiments.get(name)
    with pytest.raises(config.ConstraintError) as e:
        config.apply_overrides(module.Config(), overrides, experiment=name)
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{name}: ")
    for field in fields:
        assert re.search(rf"\b{re.escape(field)}\b", message), (field, message)
    cfg = module.Config(**overrides)  # built without validation: the runner still refuses it
    with pytest.raises(ConfigError, match=re.escape(message)):
        runner.execute(name, cfg, root=tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name, overrides, fields", CONSTRAINTS, ids=IDS)
def test_constraint_refused_by_run_set(name, overrides, fields, tmp_path):
    sets = [a for k, v in overrides.items() for a in ("--set", f"{k}={_text(v)}")]
    line = refused(["run", name, *sets, "--root", str(tmp_path / "store")], tmp_path / "store")
    assert all(re.search(rf"\b{re.escape(f)}\b", line) for f in fields), line
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("name, overrides, fields", CONSTRAINTS[::3], ids=IDS[::3])
def test_constraint_refused_by_sweep_grids_and_files(name, overrides, fields, tmp_path):
    (key, value), *rest = overrides.items()
    grid = ["--grid", f"{key}={_text(value)}"] if not isinstance(value, tuple) else ["--grid", f"{key}={_text(value)};{_text(value)}"]  # fmt: skip
    sets = [a for k, v in rest for a in ("--set", f"{k}={_text(v)}")]
    store_dir = tmp_path / "store"
    refused(["sweep", name, *grid, *sets, "--root", str(store_dir)], store_dir)
    toml = f'experiment = "{name}"\n[grid]\n{key} = [{_toml(value)}]\n[set]\n'
    toml += "".join(f"{k} = {_toml(v)}\n" for k, v in rest)
    f = tmp_path / "s.toml"
    f.write_text(toml)
    refused(["sweep", str(f), "--root", str(store_dir)], store_dir)
    with pytest.raises(config.ConstraintError):
        sweep.expand(sweep.SweepSpec(name, {key: (value,)}, (0,), dict(rest)))
    assert not store_dir.exists()


def _toml(v) -> str:
    if isinstance(v, tuple):
        return "[" + ", ".join(map(_toml, v)) + "]"
    return repr(v)


def test_defaults_and_tiny_configs_meet_every_constraint():
    for name in experiments.names():
        module = experiments.get(name)
        config.validate(module.Config(), experiment=name)
        config.validate(experiments.tiny_config(module), experiment=name)


# --- random fuzz (cheap) -------------------------------------------------------------------------


def _fuzz(n: int):
    return settings(
        max_examples=n, deadline=None, database=None, derandomize=True,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip


def test_random_sql_is_answered_or_refused_in_one_line(tmp_path):
    store_dir = tmp_path / "store"
    words = st.sampled_from(["SELECT", "FROM", "runs", "checks", "*", "1", "(", ")", ",", "'",
                             "WHERE", "GROUP BY", ";", "--", "range(3)", "NULL", "☃", "\x00"])  # fmt: skip

    @_fuzz(25)
    @given(st.one_of(st.text(max_size=40), st.lists(words, max_size=8).map(" ".join)))
    def check(sql):
        result = cli.invoke(app, ["query", "--root", str(store_dir), "--timeout", "5", "--", sql])
        assert "Traceback" not in result.output, (sql, result.output)
        if result.exit_code != 0:
            err = result.stderr.splitlines()
            assert result.exit_code == 2, (sql, result.output, result.exception)
            assert len(err) == 1 and err[0].startswith("error: "), (sql, result.stderr)

    check()


def test_random_sweep_files_are_refused_in_one_line(tmp_path):
    store_dir = tmp_path / "store"

    @_fuzz(30)
    @given(st.one_of(st.binary(max_size=60), st.text(max_size=60).map(str.encode)))
    def check(data):
        assume(not any(n.encode() in data for n in experiments.names()))  # never starts a sweep
        f = tmp_path / "r.toml"
        f.write_bytes(data)
        refused(["sweep", str(f), "--root", str(store_dir)], store_dir)

    check()
