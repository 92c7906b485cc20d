"""Fuzz of ``implicit-bias explore`` and its data loader: bad input is one line ``error: …`` on stderr
and exit code 2, never a traceback, a hang or silently accepted nonsense, and nothing is stored.

Every case goes through the real CLI (``typer.testing.CliRunner`` on ``implicit_bias.cli.app``) with
``explore``'s ``execute`` replaced by a stub that raises ``Reached``: a refused question never gets
there, an accepted one stops there, so nothing is ever solved (the question's ``describe`` runs, on
tiny sizes: it is where the data's own refusals happen). Each numeric flag is tried on a base
question it applies to, so the refusal is the value's. A hypothesis fuzz draws random flag/value
pairs (CLI) and random field values (``explore.question``): ConfigError or acceptance, nothing else.
"""

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

from implicit_bias import explore
from implicit_bias.cli import app
from implicit_bias.errors import ConfigError
from implicit_bias.explore import command
from implicit_bias.explore.question import FIELD_HELP, Question


class Reached(Exception):
    """``execute`` (or the grid) was reached: the question was accepted; ``args[0]``: how many."""


@pytest.fixture
def cli(monkeypatch, tmp_path):
    """invoke(*args) → the CliRunner result of ``explore *args --root ROOT``; ``invoke.root``."""

    def reached(*args, **kwargs):
        raise Reached(1)

    monkeypatch.setattr(command, "_execute_live", reached)
    monkeypatch.setattr(command, "execute", reached)
    monkeypatch.setattr(command, "run_grid", lambda questions, **kw: _grid(questions))
    root = tmp_path / "results"

    def invoke(*args, root=root):
        return CliRunner().invoke(app, ["explore", *map(str, args), "--root", str(root)])

    invoke.root = root
    return invoke


def _grid(questions):
    raise Reached(len(questions))


def _refused(r, root, *phrases, usage=False):
    """Exit 2, one line ``error: …`` on stderr naming ``phrases``, no traceback, nothing stored."""
    out = r.stdout + r.stderr
    assert r.exception is None or isinstance(r.exception, SystemExit), (repr(r.exception), out)
    assert "Traceback" not in out, out
    assert r.exit_code == 2, (r.exit_code, out)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    for phrase in phrases:
        assert phrase.lower() in lines[0].lower(), (phrase, lines[0])
    if usage:
        assert "no such option" in lines[0].lower() or "did you mean" in lines[0].lower(), lines
    try:
        stored = list(root.rglob("*")) if root.is_dir() else []
    except OSError:  # a --root whose name the file system refuses: nothing can be there
        stored = []
    assert not stored, stored
    return lines[0]


def _accepted(r, count=1):
    out = r.stdout + r.stderr
    assert isinstance(r.exception, Reached), (r.exit_code, repr(r.exception), out)
    assert r.exception.args[0] == count, (r.exception.args, out)
    assert "Traceback" not in out and "error:" not in out, out
    return r.stdout


# ---------------------------------------------------------------- base questions (each accepted)

BASES = {
    "gd": ["completion", "--n", 6, "--rank", 1, "--observed", 20, "--method", "gd", "--n-steps", 50],
    "flow": ["completion", "--n", 6, "--rank", 1, "--observed", 20],
    "sgd": ["completion", "--n", 6, "--rank", 1, "--observed", 20, "--method", "sgd", "--n-steps", 50],
    "sensing": ["sensing", "--n", 4, "--rank", 1, "--m", 12, "--method", "gd", "--n-steps", 50],
    "sparse": ["sparse", "--model", "hadamard", "--n", 10, "--m", 6, "--s", 2, "--method", "gd",
               "--n-steps", 50],
    "regression": ["regression", "--p", 3, "--d", 2, "--method", "gd", "--n-steps", 50],
    "full": ["full", "--spectrum", "3,2,1", "--method", "gd", "--n-steps", 50],
    "data": ["completion", "--data", "{csv}", "--method", "gd", "--n-steps", 50],
}  # fmt: skip
FIELD_BASE = {
    "n": "gd", "n_cols": "gd", "rank": "gd", "observed": "gd", "depth": "gd", "scale": "gd",
    "width": "gd", "n_saves": "gd", "seed": "gd", "eta": "gd", "n_steps": "gd", "m": "sensing",
    "s": "sparse", "p": "regression", "d": "regression", "t1": "flow", "rel_tol": "flow",
    "lam": "sgd", "batch_size": "sgd", "holdout": "data",
}  # fmt: skip
ZERO_INVALID = {"rank", "m", "observed", "s", "p", "d", "depth", "scale", "eta", "n_steps",
                "rel_tol", "batch_size", "n_saves"}  # fmt: skip
BAD_NUMBERS = ["-1", "nan", "inf", "-inf", "1e400", "1e-400", "abc", "", "1e12", "0x1p3", "1,2"]


@pytest.fixture
def files(tmp_path):
    """Small data files: a good entries table and its 1-D 'truth'."""
    csv = tmp_path / "ratings.csv"
    csv.write_text("row,col,value\n0,0,1\n0,1,2\n1,0,3\n1,1,4\n2,2,1\n2,0,5\n")
    np.save(tmp_path / "vector.npy", np.ones(5))
    np.save(tmp_path / "truth.npy", np.ones((3, 3)))
    return {"csv": str(csv), "vector": str(tmp_path / "vector.npy"),
            "truth": str(tmp_path / "truth.npy")}  # fmt: skip


def _base(name, files):
    return [str(a).format(**files) for a in BASES[name]]


@pytest.mark.parametrize("name", BASES)
def test_every_base_question_is_accepted(cli, files, name):
    _accepted(cli(*_base(name, files)))


# ---------------------------------------------------------------- numeric flags

NUMERIC_CASES = [
    (field, value)
    for field in FIELD_BASE
    for value in BAD_NUMBERS + (["0"] if field in ZERO_INVALID else []) + (["1"] if field == "n_saves" else [])
    if not (field == "t1" and value == "1e12")  # a time horizon of 1e12 is allowed: try 1e300
] + [("t1", "1e300"), ("observed", "3.5"), ("depth", "2.5"), ("seed", "4294967296")]  # fmt: skip


@pytest.mark.parametrize(
    "field, value", NUMERIC_CASES, ids=[f"{f}={v!r}" for f, v in NUMERIC_CASES]
)
def test_a_bad_number_is_refused_in_one_line(cli, files, field, value):
    args = _base(FIELD_BASE[field], files) + ["--" + field.replace("_", "-"), value]
    line = _refused(cli(*args), cli.root)
    assert field in line or field.replace("_", "-") in line, line  # the line names the flag


SPECTRA = ["1,nan", "1,,2", "inf,1", "1e400", "abc", "1,2,x", "[1,2", "1;2"]


@pytest.mark.parametrize("value", SPECTRA)
def test_a_bad_spectrum_is_refused(cli, files, value):
    _refused(cli(*_base("full", files), "--spectrum", value), cli.root)


# ---------------------------------------------------------------- booleans and choices

TRUE_FALSE = ["on", "off", "yes", "no", "true", "false", "1", "0", "TRUE", "Off"]


@pytest.mark.parametrize("value", TRUE_FALSE)
@pytest.mark.parametrize("flag, base", [("--symmetric", "gd"), ("--signed", "sparse")])
def test_booleans_accept_on_off_yes_no_true_false_1_0(cli, files, flag, base, value):
    _accepted(cli(*_base(base, files), flag, value))


@pytest.mark.parametrize("value", ["maybe", "2", "", "-1", "yes please", "t", "none"])
@pytest.mark.parametrize("flag, base", [("--symmetric", "gd"), ("--signed", "sparse")])
def test_booleans_are_strict(cli, files, flag, base, value):
    _refused(cli(*_base(base, files), flag, value), cli.root, flag.strip("-"))


CHOICES = [
    ("gd", ["--model", "deeep"], "model"),
    ("gd", ["--method", "adam"], "method"),
    ("flow", ["--solver", "rk4"], "solver"),
    ("gd", ["--init", "zeros"], "init"),
    ("gd", ["--baseline", "nuc"], "baseline"),
    ("gd", ["--baseline", "l2,nuc"], "baseline"),
    ("sensing", ["--ensemble", "gauss"], "ensemble"),
]


@pytest.mark.parametrize("base, extra, phrase", CHOICES, ids=[" ".join(c[1]) for c in CHOICES])
def test_a_choice_with_a_typo_is_refused(cli, files, base, extra, phrase):
    _refused(cli(*_base(base, files), *extra), cli.root, phrase)


def test_a_problem_with_a_typo_is_refused(cli, files):
    _refused(cli("completon", *_base("gd", files)[1:]), cli.root, "problem")


FLAG_TYPOS = [("--depht", "--depth"), ("--lr", "--eta"), ("--alpah", "--alpha"),
              ("--learning-rate", "--eta"), ("--n-step", "--n-steps"), ("--seedz", "")]  # fmt: skip


@pytest.mark.parametrize("flag, hint", FLAG_TYPOS)
def test_a_flag_with_a_typo_is_a_usage_error(cli, files, flag, hint):
    line = _refused(cli(*_base("gd", files), flag, "3"), cli.root, usage=True)
    assert hint in line, line


# ---------------------------------------------------------------- flags that do not apply

NOT_APPLYING = [
    ("flow", ["--eta", "0.5"], "--eta does not apply"),
    ("flow", ["--n-steps", "10"], "--n-steps does not apply"),
    ("gd", ["--t1", "5"], "--t1 does not apply"),
    ("gd", ["--solver", "tsit5"], "--solver does not apply"),
    ("gd", ["--rel-tol", "0.1"], "--rel-tol does not apply"),
    ("gd", ["--lam", "0.1"], "--lam does not apply"),
    ("gd", ["--batch-size", "4"], "--batch-size does not apply"),
    ("gd", ["--m", "5"], "--m does not apply"),
    ("gd", ["--s", "3"], "--s does not apply"),
    ("gd", ["--signed", "on"], "--signed does not apply"),
    ("gd", ["--p", "3"], "--p does not apply"),
    ("gd", ["--spectrum", "1,2"], "--spectrum does not apply"),
    ("gd", ["--ensemble", "gaussian"], "--ensemble does not apply"),
    ("sparse", ["--observed", "5"], "--observed does not apply"),
    ("sparse", ["--width", "3"], "--width does not apply"),
    ("sparse", ["--init", "orthogonal"], "--init does not apply"),
    ("sparse", ["--rank", "3"], "--rank does not apply"),
    ("sparse", ["--symmetric", "off"], "--symmetric does not apply"),
    ("sparse", ["--n-cols", "3"], "--n-cols does not apply"),
    ("regression", ["--truth", "{truth}"], "--truth does not apply"),
    ("regression", ["--observed", "5"], "--observed does not apply"),
    ("full", ["--holdout", "0.2"], "--holdout does not apply"),
    ("full", ["--rank", "3"], "--rank does not apply with --spectrum"),
    ("full", ["--n-cols", "4"], "--n-cols does not apply with --spectrum"),
    ("data", ["--rank", "3"], "--rank describes the random instance"),
    ("data", ["--n-cols", "4"], "--n-cols describes the random instance"),
    ("data", ["--symmetric", "off"], "--symmetric describes the random instance"),
]


@pytest.mark.parametrize(
    "base, extra, phrase", NOT_APPLYING, ids=[f"{b} {' '.join(e)}" for b, e, _ in NOT_APPLYING]
)
def test_a_flag_that_does_not_apply_is_refused(cli, files, base, extra, phrase):
    extra = [a.format(**files) for a in extra]
    _refused(cli(*_base(base, files), *extra), cli.root, phrase)


# ---------------------------------------------------------------- combinations

COMBOS = [
    (["sparse", "--model", "deep"], "", "does not fit problem 'sparse'"),
    (["regression", "--model", "symmetric"], "", "needs a square matrix problem"),
    ("gd", "--model symmetric --depth 3", "has depth 2"),
    ("sgd", "--model symmetric", "SGD"),
    ("sparse", "--method sgd", "SGD"),
    ("data", "--truth {truth} --holdout 0.2", "not both"),
    ("gd", "--holdout 0.2", "--holdout splits user data"),
    ("gd", "--truth {truth}", "--truth goes with --data"),
    ("gd", "--rank 7", "--rank 7 exceeds"),
    ("gd", "--observed 37", "exceeds the 6×6 = 36 entries"),
    ("sparse", "--s 11", "--s 11 exceeds"),
    ("gd", "--depth 3 --scale 0", "--scale 0 at depth 3"),
    ("gd", "--scale 0", "--scale 0 at depth 2"),
    ("gd", "--baseline l1", "baseline 'l1' does not apply"),
    ("regression", "--baseline nuclear", "baseline 'nuclear' does not apply"),
    ("gd", "--baseline l2 --baseline l2", "lists one twice"),
    ("full", "--n 4", "--spectrum has 3 values but --n is 4"),
    (["completion", "--n", "6"], "", "give how many entries to observe"),
    (["sensing", "--n", "4"], "", "give the number of measurements --m"),
    (["sparse", "--model", "hadamard", "--n", "10"], "", "give the number of measurements --m"),
    ("data", "--holdout 0.99", "leaves"),
    ("data", "--truth {vector}", "the truth has shape 5"),
    ("data", "--truth missing.npy", "missing.npy: no such file"),
    ("data", "--truth /", "/: is not a file"),
    ("data", "--truth skimage:camera", "no such file"),
    ("data", "--observed 3", "already says which entries are observed"),
    ("gd", "--n-cols 4 --init identical", "equal widths"),
    ("gd", "--init spectral", "unknown init 'spectral'"),
    ("gd", "--model symmetric --init balanced", "unknown init 'balanced'"),
    ("regression", "--n 2", "fewer than the --p 3 features"),
    (["full", "--n", "4", "--n-cols", "3", "--model", "symmetric"], "", "needs a square problem"),
    ("gd", "--workers 0", "--workers must be"),
    ("gd", "--seed 3 --seeds 0-1", "not both"),
    ("gd", "--data ''", "--data is empty"),
    ("data", "--truth ''", "--truth is empty"),
    (["--method", "gd"], "", "give a problem"),
]


@pytest.mark.parametrize("base, extra, phrase", COMBOS, ids=[str(c[1] or c[0]) for c in COMBOS])
def test_incompatible_combinations_are_refused(cli, files, base, extra, phrase):
    import shlex

    args = list(base) if isinstance(base, list) else _base(base, files) + shlex.split(extra)
    _refused(cli(*[a.format(**files) for a in args]), cli.root, phrase)


# ---------------------------------------------------------------- sizes that cannot fit

SIZES = [
    ["completion", "--n", "100000"],
    ["completion", "--n", "100000", "--observed", "10", "--method", "gd"],
    ["sensing", "--n", "3000", "--m", "3000"],
    ["regression", "--p", "100000", "--d", "100000"],
    ["completion", "--n", "6", "--observed", "10", "--width", "100000"],
    ["completion", "--n", "6", "--observed", "10", "--method", "sgd", "--n-steps", "1000000",
     "--batch-size", "1000000", "--n-saves", "2"],
    ["full", "--data", "skimage:camera", "--n", "100000"],
]  # fmt: skip


@pytest.mark.parametrize("args", SIZES, ids=[" ".join(a) for a in SIZES])
def test_a_question_that_cannot_fit_is_one_line_naming_the_gib_quickly(cli, args):
    start = time.perf_counter()
    line = _refused(cli(*args), cli.root, "GiB", "needs at least")
    assert "MemoryError" not in line and time.perf_counter() - start < 5


@pytest.mark.parametrize(
    "args",
    [["sparse", "--model", "hadamard", "--n", "100000", "--m", "10", "--s", "5", "--method", "gd"],
     ["regression", "--n", "100000", "--p", "3", "--d", "2", "--method", "gd"],
     ["sparse", "--model", "hadamard", "--data", "scipy:dct", "--n", "100000", "--m", "10", "--s", "3"]],
    ids=["sparse-long-x", "regression-many-samples", "dct-long-x"],
)  # fmt: skip
def test_a_long_vector_or_many_samples_fit(cli, args):
    """The snapshots of x (or of a p×d W) are what a run keeps, not an n×n matrix."""
    _accepted(cli(*args))


def test_data_whose_indices_declare_a_huge_matrix_is_refused_before_allocating(cli, tmp_path):
    (tmp_path / "far.csv").write_text("row,col,value\n0,0,1\n1,1,2\n2000000000,2000000,3\n")
    (tmp_path / "far.mtx").write_text(
        "%%MatrixMarket matrix coordinate real general\n3000000 3000000 2\n1 1 1.0\n2 2 2.0\n"
    )
    for name in ("far.csv", "far.mtx"):
        start = time.perf_counter()
        _refused(cli("completion", "--data", tmp_path / name), cli.root, name, "GiB")
        assert time.perf_counter() - start < 5


# ---------------------------------------------------------------- seeds and grids


@pytest.mark.parametrize("seeds", ["-1", "a-b", "5-2", "", "1.5", ",", "4294967296", "0-99999999"])
def test_bad_seeds_are_refused(cli, files, seeds):
    _refused(cli(*_base("gd", files), "--seeds", seeds), cli.root, "seed")


@pytest.mark.parametrize("seeds", ["0-1000", "0-150"])
def test_many_seeds_need_yes(cli, files, seeds):
    _refused(cli(*_base("gd", files), "--seeds", seeds), cli.root, "--yes")


def test_many_seeds_run_with_yes_and_repeated_seeds_count_once(cli, files):
    _accepted(cli(*_base("gd", files), "--seeds", "0-150", "--yes"), count=151)
    _accepted(cli(*_base("gd", files), "--seeds", "0,0,1"), count=2)


def _spec(tmp_path, text, name="study.toml"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


QUESTION = '[question]\nproblem = "completion"\nn = 6\nrank = 1\nobserved = 20\nmethod = "gd"\nn_steps = 50\n'
BAD_SPECS = [
    (QUESTION + "[grid]\nscale = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]\n"
     "depth = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n", "110 questions"),
    (QUESTION + "[grid]\ndepth = []\n", "empty list"),
    (b'[question]\nproblem = "compl\xe9tion"\n', "not UTF-8"),
    ("[question\nproblem = 1\n", "study.toml"),
    ('[question]\nproblem = "full"\nproblem = "full"\n', "study.toml"),
    (QUESTION + "[foo]\nx = 1\n", "unknown sections"),
    (QUESTION + "dept = 2\n", "unknown field 'dept'"),
    (QUESTION + "[grid]\nalpah = [1, 2]\n", "unknown field 'alpah'"),
    (QUESTION + "data_sha256 = 'abc'\n", "unknown field 'data_sha256'"),
    (QUESTION + 'depth = "three"\n', "depth"),
    (QUESTION + "depth = 2.5\n", "depth"),
    (QUESTION + "depth = true\n", "depth"),
    (QUESTION + "scale = 1979-05-27\n", "scale"),
    (QUESTION + 'symmetric = "maybe"\n', "symmetric"),
    (QUESTION + "baselines = [1, 2]\n", "baselines"),
    (QUESTION + "eta = 0.1\nseed = [1, 2]\n", "seed"),
    (QUESTION.replace('"completion"', "5"), "problem"),
    ("question = 5\n", "must be tables"),
    ("grid = 5\n" + QUESTION, "must be tables"),
    (QUESTION + "[grid.depth]\nx = 1\n", "depth"),
    ('seeds = "a-b"\n' + QUESTION, "seeds"),
    ("seeds = 4294967296\n" + QUESTION, "largest seed"),
    ('seeds = "0-2"\n' + QUESTION + "seed = 3\n", "not both"),
    ('seeds = "0-200"\n' + QUESTION, "201 questions"),
    (QUESTION + "[grid]\n" + "".join(f"{k} = {list(range(1, 31))}\n" for k in  # 30⁶ questions
                                     ("depth", "width", "seed", "n_steps", "eta", "scale")),
     "pass --yes"),
]  # fmt: skip


@pytest.mark.parametrize("text, phrase", BAD_SPECS, ids=[p for _, p in BAD_SPECS])
def test_a_bad_spec_file_is_refused_quickly(cli, tmp_path, text, phrase):
    start = time.perf_counter()
    _refused(cli("--spec", _spec(tmp_path, text)), cli.root, phrase)
    assert time.perf_counter() - start < 5


def test_spec_files_that_are_not_files_and_a_problem_beside_spec(cli, tmp_path):
    _refused(cli("--spec", tmp_path / "missing.toml"), cli.root, "missing.toml")
    _refused(cli("--spec", tmp_path), cli.root, str(tmp_path))
    _refused(cli("--spec", _spec(tmp_path, QUESTION), "completion"), cli.root, "drop 'completion'")
    _refused(cli("--spec", _spec(tmp_path, QUESTION), "--eta", "0.1", "--method", "flow"),
             cli.root, "does not apply to method 'flow'")  # fmt: skip


def test_spec_seeds_are_used_and_seeds_on_the_command_line_replace_them(cli, tmp_path):
    spec = _spec(tmp_path, 'seeds = "0-3"\n' + QUESTION + "[grid]\ndepth = [1, 2]\n")
    _accepted(cli("--spec", spec), count=8)
    _accepted(cli("--spec", spec, "--seeds", "5"), count=2)
    _accepted(cli("--spec", _spec(tmp_path, QUESTION + "[grid]\ndepth = [2, 2]\n", "dup.toml")))
    assert len(explore.read_spec(spec)) == 8
    _refused(cli("--spec", spec, "--seed", "3"), cli.root, "--seed does not apply")
    fixed = _spec(tmp_path, QUESTION + "seed = 7\n", "fixed.toml")  # --seeds replaces its seed
    _accepted(cli("--spec", fixed, "--seeds", "0-2"), count=3)


def test_a_root_that_is_an_existing_file_is_refused(cli, files, tmp_path):
    target = tmp_path / "a-file"
    target.write_text("keep me")
    r = cli(*_base("gd", files), root=target)
    _refused(r, tmp_path / "nothing", "existing file")
    assert target.read_text() == "keep me"
    long = tmp_path / ("a" * 300)  # a name longer than the file system allows
    _refused(cli(*_base("gd", files), root=long), long, "--root")


# ---------------------------------------------------------------- data files


def test_a_one_based_table_is_run_with_a_warning(cli, tmp_path):
    (tmp_path / "one.csv").write_text("1,1,1.0\n1,2,2.0\n2,1,3.0\n2,2,4.0\n3,3,1.0\n")
    out = _accepted(cli("completion", "--data", tmp_path / "one.csv", "--method", "gd",
                        "--n-steps", "50"))  # fmt: skip
    text = " ".join(out.split())
    assert "warning:" in text and "1-based" in text, out


FIRST_LINES = [
    ("1.5E-1,2,3\n4,5,6\n7,8,\n", "8 of 9"),
    ("nan,2,3\n4,5,6\n7,8,9\n", "8 of 9"),
    ("inf,2,3\n4,5,6\n7,8,9\n", "8 of 9"),
]


@pytest.mark.parametrize("text, observed", FIRST_LINES, ids=["1.5E-1", "nan", "inf"])
def test_a_first_line_of_numbers_is_data_not_a_header(cli, tmp_path, text, observed):
    path = tmp_path / "m.csv"
    path.write_text(text)
    out = _accepted(cli("completion", "--data", path, "--method", "gd", "--n-steps", "50"))
    text = " ".join(out.split())
    assert "a 3×3 matrix from" in text and f"{observed} entries observed" in text, out


def test_a_complete_matrix_keeps_its_first_line(cli, tmp_path):
    (tmp_path / "m.csv").write_text("-3,2.5E-1,3\n4,5,6\n7,8,9\n")
    _refused(cli("completion", "--data", tmp_path / "m.csv"), cli.root, "a complete 3×3 matrix")


def test_a_byte_order_mark_is_dropped(cli, tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffrow,col,value\n0,0,1\n1,1,2\n0,1,3\n".encode())
    out = _accepted(cli("completion", "--data", path, "--method", "gd", "--n-steps", "50"))
    assert "3 of 4" in " ".join(out.split()), out


BAD_FILES = [
    ("complex.npy", "completion", [], "complex values"),
    ("empty.npz", "completion", [], "no arrays"),
    ("truncated.npz", "completion", [], "cannot be read"),
    ("text.npy", "completion", [], "text strings"),
    ("records.npy", "completion", [], "structured"),
    ("dates.npy", "completion", [], "datetime64"),
    ("scalar.npy", "completion", [], "0-d"),
    ("no_rows.npy", "completion", [], "length zero"),
    ("objects.npy", "completion", [], "Python objects"),
    ("no_y.npz", "sparse", ["--model", "hadamard"], "missing y"),
    ("no_A.npz", "sparse", ["--model", "hadamard"], "missing A"),
    ("mismatch.npz", "sparse", ["--model", "hadamard"], "A must be (m, n) and y (m,)"),
    ("nan_A.npz", "sparse", ["--model", "hadamard"], "NaN or inf"),
    ("sensing.npz", "sensing", [], "A must be (m, a, b)"),
    ("regression.npz", "regression", [], "the same n"),
    ("vector.npy", "full", [], "must be a matrix"),
    ("latin1.csv", "completion", [], "not UTF-8"),
    ("complex.csv", "completion", [], "complex values"),
    ("ragged.csv", "completion", [], "line 2 has 2 fields"),
    ("empty.csv", "completion", [], "is empty"),
    ("header_only.csv", "completion", [], "no data lines"),
    ("word.csv", "completion", [], "'one' is not a number"),
    ("table.xlsx", "completion", [], "unknown file type"),
    ("negative.csv", "completion", [], "is negative"),
    ("dup.csv", "completion", [], "duplicate entry"),
    ("pattern.mtx", "completion", [], "pattern Matrix Market"),
    ("missing.csv", "completion", [], "no such file"),
    ("good.npz", "sparse", ["--model", "hadamard", "--m", "3"], "--m describes the random"),
    ("good.npz", "sparse", ["--model", "hadamard", "--n", "3"], "--n describes the random"),
]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad_files")
    np.save(d / "complex.npy", np.ones((3, 3)) + 1j)
    np.savez(d / "empty.npz")
    np.savez(d / "good.npz", A=np.ones((4, 5)), y=np.ones(4))
    (d / "truncated.npz").write_bytes((d / "good.npz").read_bytes()[:100])
    np.save(d / "text.npy", np.array([["a", "b"], ["c", "d"]]))
    np.save(d / "records.npy", np.zeros(3, dtype=[("a", int), ("b", float)]))
    np.save(d / "dates.npy", np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[D]"))
    np.save(d / "scalar.npy", np.array(3.0))
    np.save(d / "no_rows.npy", np.zeros((0, 3)))
    np.save(d / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.savez(d / "no_y.npz", A=np.ones((4, 5)))
    np.savez(d / "no_A.npz", y=np.ones(4))
    np.savez(d / "mismatch.npz", A=np.ones((4, 5)), y=np.ones(3))
    np.savez(d / "sensing.npz", A=np.ones((4, 3, 3)), X=np.ones((3, 2)))
    np.savez(d / "regression.npz", X=np.ones((4, 3)), Y=np.ones((5, 2)))
    np.savez(d / "nan_A.npz", A=np.full((4, 5), np.nan), y=np.ones(4))
    np.save(d / "vector.npy", np.ones(5))
    (d / "latin1.csv").write_bytes("row,col,value\n0,0,1\n\xe9,1,2\n".encode("latin-1"))
    (d / "complex.csv").write_text("1+2j,2\n3,4\n")
    (d / "ragged.csv").write_text("0,0,1\n1,1\n")
    (d / "empty.csv").write_text("\n\n# nothing\n")
    (d / "header_only.csv").write_text("row,col,value\n")
    (d / "word.csv").write_text("row,col,value\n0,0,one\n")
    (d / "table.xlsx").write_text("0,0,1\n")
    (d / "negative.csv").write_text("row,col,value\n0,0,1\n-1,0,2\n")
    (d / "dup.csv").write_text("row,col,value\n0,0,1\n0,0,2\n")
    (d / "pattern.mtx").write_text("%%MatrixMarket matrix coordinate pattern general\n2 2 1\n1 1\n")
    return d


@pytest.mark.parametrize("name, problem, extra, phrase", BAD_FILES,
                         ids=[f"{c[0]} {' '.join(c[2][2:])}".strip() for c in BAD_FILES])  # fmt: skip
def test_a_bad_data_file_is_one_line_naming_the_file(cli, bad_files, name, problem, extra, phrase):
    line = _refused(cli(problem, *extra, "--data", bad_files / name), cli.root, phrase)
    if not phrase.startswith("--"):
        assert name in line, line


def test_a_data_path_that_cannot_be_a_file_is_refused(cli, tmp_path):
    _refused(cli("completion", "--data", tmp_path), cli.root, "is not a file")
    _refused(cli("completion", "--data", "a" * 5000 + ".csv"), cli.root, "cannot be read")
    _refused(cli("completion", "--data", "/dev/null"), cli.root, "not a file")


SOURCES = [
    (["completion", "--data", "skimage:nope"], "unknown data source 'skimage:nope'"),
    (["regression", "--data", "skimage:camera"], "serves the completion and full problems"),
    (["completion", "--data", "scipy:dct"], "serves the sparse problem"),
    (["sparse", "--model", "hadamard", "--data", "sklearn:digits"], "serves the regression"),
    (["sparse", "--model", "hadamard", "--data", "scipy:dct"], "give the number of measurements"),
    (["sparse", "--model", "hadamard", "--data", "scipy:dct", "--m", "5", "--s", "30"], "s = 30"),
    (["regression", "--data", "sklearn:linnerud", "--n", "50"], "has 20 samples"),
    (["full", "--data", "skimage:camera", "--n-cols", "4"], "--n-cols describes"),
]


@pytest.mark.parametrize("args, phrase", SOURCES, ids=[" ".join(a) for a, _ in SOURCES])
def test_an_unknown_source_or_one_for_another_problem_is_refused(cli, args, phrase):
    if "sklearn" in " ".join(args):
        pytest.importorskip("sklearn")
    _refused(cli(*args), cli.root, phrase)


# ---------------------------------------------------------------- random fuzz (hypothesis)

FIELDS = [name for name in FIELD_HELP]
FLAGS = ["--" + f.replace("_", "-") for f in FIELDS] + [
    "--alpha",
    "--entries",
    "--baselines",
    "--seeds",
    "--workers",
]
TEXT = st.one_of(
    st.sampled_from(["", "0", "1", "-1", "2", "0.5", "1e-3", "nan", "inf", "-inf", "1e400",
                     "1e-400", "abc", "true", "off", "maybe", "3,2,1", "1,,2", "l2", "nuclear",
                     "l1", "rrr", "deep", "symmetric", "hadamard", "gd", "flow", "sgd",
                     "gaussian", "identity", "spectral", "tsit5", "skimage:nope", "scipy:dct",
                     "sklearn:linnerud", "/", "missing.csv", "100000", "99999999999", "1e12"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=6),
)  # fmt: skip
PROBLEMS = st.sampled_from(["full", "sensing", "completion", "sparse", "regression", "nope"])


def _fuzz(n):
    return settings(max_examples=n, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))  # fmt: skip


@_fuzz(200)
@given(problem=PROBLEMS, pairs=st.lists(st.tuples(st.sampled_from(FLAGS), TEXT), max_size=5))
def test_random_flags_through_the_cli_are_refused_in_one_line_or_accepted(
    cli, monkeypatch, problem, pairs
):
    from implicit_bias.explore import build

    monkeypatch.setattr(build, "describe", lambda q: "described")  # validation only: no build
    args = [problem] + [a for pair in pairs for a in pair]
    r = cli(*args)
    if isinstance(r.exception, Reached):
        return
    _refused(r, cli.root)


VALUES = st.one_of(
    TEXT,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.one_of(st.integers(-5, 5), st.floats(), st.text(max_size=3)), max_size=3),
    st.tuples(st.sampled_from(["l2", "nuclear", "l1", "rrr", "x"])),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)
QUESTION_FIELDS = [f for f in FIELD_HELP if f not in ("problem", "data", "truth")]


@_fuzz(200)
@given(
    fields=st.dictionaries(st.sampled_from(QUESTION_FIELDS), VALUES, max_size=6),
    problem=PROBLEMS,
    data=st.sampled_from(
        [
            None,
            None,
            None,
            "",
            "missing.csv",
            "/",
            "skimage:nope",
            "scipy:dct",
            "sklearn:linnerud",
            "a" * 300,
            "x\x00y",
        ]
    ),  # fmt: skip
)
def test_random_fields_raise_only_config_errors(fields, problem, data):
    try:
        q = explore.question(problem=problem, data=data, **fields)
    except ConfigError as e:
        assert "\n" not in str(e) and str(e), repr(e)
    else:
        assert isinstance(q, Question)
