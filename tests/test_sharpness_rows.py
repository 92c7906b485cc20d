"""The runner's sharpness rows (issue 21 §1): every ``fit``/``fit_batch`` inside an experiment's
``run`` is recorded (``optim.api.recording``), and the runner stores λ_max(∇²L) along each small run
as rows ``sharpness`` (+ ``two_over_eta`` for GD), which ``query`` and the report read.

Cost (2 shared cores, load ~5): ≈ 7 s in all. One tiny experiment (DeepMatrix depth 2 on a 3×3
completion, 18 parameters, GD 99 steps) stored once per module: three GD compilations (default
observer, product observer, a batch of 2) and two Hessian compilations (10 and 2 snapshots),
≈ 2.6 s; the oracle's jitted Hessian ≈ 0.4 s; the other tests reuse the compiled code and the
stored run (≤ 0.7 s each).
"""

import dataclasses
import itertools

import jax
import numpy as np
import pandas as pd
import pytest
from jax.flatten_util import ravel_pytree

import implicit_bias as ib
from implicit_bias import config as config_mod, runner, store
from implicit_bias.experiments import Result
from implicit_bias.models.deep_matrix import product
from implicit_bias.optim import (
    GD,
    api,
    fit,
    fit_batch,
    sharpness as sharp_mod,
    sharpness_rows as rows_mod,
)
from implicit_bias.optim.objective import objective
from implicit_bias.optim.sharpness import hessian_top_k, sharpness_along
from implicit_bias.optim.sharpness_rows import recorded_rows

NAME = "tiny_sharpness"
MODEL = ib.DeepMatrix(depth=2, n=3, init="gaussian", alpha=0.5)  # 2 · 3 · 3 = 18 parameters
PROBLEM = ib.completion(n=3, rank=1, observed=6, seed=0)
HOSTILE = "GD <b>product</b>"  # a label with markup: the report must escape it


@dataclasses.dataclass(frozen=True)
class Config:
    eta: float = 0.05
    n_steps: int = 99  # 100 snapshots: 10 picked (0, 12, …, 96 and 99)


class Tiny:
    """A module-like experiment for ``runner.run_and_store``: three runs, kept in ``trajs``."""

    def __init__(self, own_sharpness: bool = False, int_fit: bool = False):
        self.trajs, self.own, self.int_fit = {}, own_sharpness, int_fit

    def run(self, cfg: Config) -> Result:
        gd = GD(eta=cfg.eta, n_steps=cfg.n_steps, save_every=1)
        p0 = MODEL.init_params(jax.random.key(0))
        self.trajs["GD"] = fit(MODEL, PROBLEM, gd, params0=p0)
        self.trajs[HOSTILE] = fit(MODEL, PROBLEM, gd, params0=p0, observe=product, label=HOSTILE)
        p1 = MODEL.init_params(jax.random.key(1))
        self.trajs["GD ×2"] = fit_batch(MODEL, PROBLEM, gd, params0=[p0, p1])
        self.trajs["p0"], self.trajs["p1"] = p0, p1
        rows = [{"t": 0.0, "series": "loss", "value": float(self.trajs["GD"].loss[0])}]
        if self.own:
            rows.append({"t": 0.0, "series": "sharpness", "value": -1.0})
        if self.int_fit:  # a column of the experiment's own named like the runner's label, numeric
            rows.append({"t": 0.0, "series": "other", "value": 0.0, "fit": 3})
        return Result(rows=rows, checks=[])

    def plot(self, rows, cfg):
        assert not rows["series"].isin(["sharpness", "two_over_eta"]).any() or self.own
        return {}


def _store(root, module, cfg=Config()):
    path = store.run_path(root, NAME, config_mod.config_hash(NAME, cfg))
    return runner.run_and_store(NAME, module, cfg, path), path


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """The tiny experiment stored by the runner, with no time budget (the budget has its own test:
    on a loaded machine the first Hessian compilation alone can exceed 10% of this tiny run)."""
    root = tmp_path_factory.mktemp("store")
    module = Tiny()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rows_mod, "AUTO_BUDGET", float("inf"))
        outcome, path = _store(root, module)
    rows = store.read_rows(path)
    return root, path, outcome, rows, module.trajs


def _weyl_tol(H: np.ndarray) -> float:
    """Two float64 evaluations of one Hessian differ by round-off ΔH, ‖ΔH‖₂ ≲ n·ε·‖H‖ (n = 18
    summands per entry); by Weyl |Δλ| ≤ ‖ΔH‖₂. 64·n·ε·‖H‖ leaves room for the eigensolver's own
    backward error (a small multiple of ε‖H‖)."""
    return 64 * H.shape[0] * np.finfo(float).eps * np.abs(np.linalg.eigvalsh(H)).max()


_UNRAVEL = ravel_pytree(MODEL.init_params(jax.random.key(0)))[1]
# the oracle: ∇²L by ``jax.hessian`` of the flattened loss at one point (no vmap, no chunks, not
# symmetrized), jitted once (uncompiled, it took seconds)
_HESSIAN = jax.jit(jax.hessian(lambda x: objective(MODEL, PROBLEM, _UNRAVEL(x))))


def _dense(params) -> np.ndarray:
    return np.asarray(_HESSIAN(ravel_pytree(params)[0]))


def _series(rows, series, run):
    out = rows[(rows.series == series) & (rows.fit == run)]
    return out.sort_values(["i", "t"])


def test_the_recorder_is_inactive_by_default_and_after_a_recording():
    # plain library calls (and the mutation tests) record nothing
    assert api.active_recorder() is None
    gd = GD(eta=0.05, n_steps=99, save_every=1)
    with api.recording() as rec:
        assert api.active_recorder() is rec
        fit(MODEL, PROBLEM, gd, key=jax.random.key(0))
        with api.not_recording():  # an auxiliary fit (gfs_sharpness's flow) is hidden
            fit(MODEL, PROBLEM, gd, key=jax.random.key(0))
    assert api.active_recorder() is None
    assert [r.label for r in rec.runs] == ["GD"] and rec.n_kept == 1
    with pytest.raises(RuntimeError), api.recording():
        raise RuntimeError("an experiment that fails")
    assert api.active_recorder() is None


def test_the_runner_stores_the_hessian_spectrum_at_ten_snapshots(stored):
    _, _, outcome, rows, trajs = stored
    assert outcome.status == "ok"
    s = _series(rows, "sharpness", "GD")
    # 100 snapshots: every ⌈100/9⌉ = 12th and the last, 10 in all (every ⌈100/10⌉ = 10th: 11)
    picks = np.r_[np.arange(0, 100, 12), 99]
    np.testing.assert_array_equal(s.t, picks.astype(float))
    params = jax.tree.map(lambda x: np.asarray(x)[picks], trajs["GD"].observed)
    # the same function on the same points; only XLA's chunk size may differ: round-off
    np.testing.assert_allclose(s.value, hessian_top_k(MODEL, PROBLEM, params)[:, 0], rtol=1e-12)
    H = _dense(trajs["GD"].final)  # the independent oracle at the last snapshot
    assert abs(s.value.iloc[-1] - np.linalg.eigvalsh(H)[-1]) <= _weyl_tol(H)
    two = _series(rows, "two_over_eta", "GD")
    np.testing.assert_array_equal(two.t, s.t)
    np.testing.assert_allclose(two.value, 2 / 0.05, rtol=1e-15)
    assert any("sharpness: λ_max(∇²L) of 4 runs" in n for n in outcome.notes)


def test_a_custom_observer_gets_its_start_and_end_and_a_batch_its_members(stored):
    _, _, _, rows, trajs = stored
    s = _series(rows, "sharpness", HOSTILE)  # observe=product: only params0 and final are known
    np.testing.assert_array_equal(s.t, [0.0, 99.0])
    for value, params in zip(s.value, [trajs["p0"], trajs[HOSTILE].final]):
        H = _dense(params)
        assert abs(value - np.linalg.eigvalsh(H)[-1]) <= _weyl_tol(H)
    batch = _series(rows, "sharpness", "GD ×2")
    assert sorted(set(batch.i)) == [0, 1]
    member = trajs["GD ×2"].member(1)
    expected = member.sharpness(MODEL, PROBLEM, every=12)  # the Trajectory method
    np.testing.assert_allclose(batch[batch.i == 1].value, expected.max, rtol=1e-12)
    np.testing.assert_array_equal(batch[batch.i == 1].t, expected.t)


def test_trajectory_sharpness_delegates_to_sharpness_along(stored):
    traj = stored[4]["GD"]
    a, b = traj.sharpness(MODEL, PROBLEM, k=2, every=7), sharpness_along(MODEL, PROBLEM, traj, 2, 7)
    np.testing.assert_array_equal(a.t, b.t)
    np.testing.assert_array_equal(a.values, b.values)


def test_query_reads_the_sharpness_rows(stored):
    from implicit_bias import query

    root, _, _, rows, _ = stored
    sql = "SELECT experiment, max(value) AS m FROM rows WHERE series='sharpness' GROUP BY ALL"
    out = query.query(sql, root)
    assert list(out.experiment) == [NAME]
    assert out.m.iloc[0] == rows[rows.series == "sharpness"].value.max()
    from typer.testing import CliRunner  # and the command line: implicit-bias query "…" --csv -

    from implicit_bias.cli import app

    result = CliRunner().invoke(app, ["query", sql, "--root", str(root), "--csv", "-"])
    assert result.exit_code == 0, result.output
    (line,) = result.output.splitlines()[1:]  # the CSV's one data row, after its header
    assert line.split(",")[0] == NAME and float(line.split(",")[1]) == out.m.iloc[0]


def test_the_cap_the_size_limit_and_the_time_budget(stored):
    trajs = stored[4]
    gd = GD(eta=0.05, n_steps=99, save_every=1)
    rec = api.FitRecorder(max_params=18, limit=3)
    rec.add(MODEL, PROBLEM, gd, trajs["GD ×2"], "B", [trajs["p0"], trajs["p1"]])
    for label in ("a", "b"):  # the third run fits the cap; the fourth does not
        rec.add(MODEL, PROBLEM, gd, trajs["GD"], label, trajs["p0"])
    big = dataclasses.replace(trajs["GD"], final=np.zeros(27))  # 27 > 18 parameters: not kept
    rec.add(MODEL, PROBLEM, gd, big, "big", None)
    assert (rec.n_kept, rec.n_over_limit, rec.n_too_large) == (3, 1, 1)
    assert [r.members for r in rec.runs] == [2, None]
    rows, notes = recorded_rows(rec, budget_s=float("inf"))
    assert sorted(set(pd.DataFrame(rows).fit)) == ["B", "a"]
    assert "not computed: 1 runs over 18 parameters; 1 runs past the first 3" in notes[0]
    clock = itertools.count(0.0, 10.0)  # every look at the clock: 10 s later
    rows, notes = recorded_rows(rec, budget_s=1.0, clock=lambda: next(clock))
    assert sorted(set(pd.DataFrame(rows).fit)) == ["B"]  # the first run always; "a" over budget
    assert "1 runs over the time budget (1 s)" in notes[0]
    # a diverged run with a custom observer: its final point is at no snapshot, only the start
    rec = api.FitRecorder()
    diverged = dataclasses.replace(trajs[HOSTILE], status=np.asarray(1))
    rec.add(MODEL, PROBLEM, gd, diverged, "div", trajs["p0"], observes_params=False)
    rows = pd.DataFrame(recorded_rows(rec, budget_s=float("inf"))[0])
    assert list(rows[rows.series == "sharpness"].t) == [0.0]


def test_a_failure_to_compute_is_a_note_never_a_failed_run(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("no Hessian here")

    monkeypatch.setattr(rows_mod, "AUTO_BUDGET", float("inf"))
    monkeypatch.setattr(sharp_mod, "hessian_top_k", boom)
    outcome, path = _store(tmp_path, Tiny())
    assert outcome.status == "ok"
    assert "sharpness: not computed for GD (RuntimeError: no Hessian here)" in outcome.notes
    assert not store.read_rows(path).series.isin(["sharpness", "two_over_eta"]).any()
    monkeypatch.setattr(rows_mod, "recorded_rows", boom)  # the whole step fails
    outcome, _ = _store(tmp_path / "again", Tiny())
    assert outcome.status == "ok"
    assert "sharpness: not computed (RuntimeError: no Hessian here)" in outcome.notes


def test_an_experiments_own_sharpness_series_is_kept_and_none_added(tmp_path):
    outcome, path = _store(tmp_path, Tiny(own_sharpness=True))
    rows = store.read_rows(path)
    assert list(rows[rows.series == "sharpness"].value) == [-1.0]
    assert not (rows.series == "two_over_eta").any()
    assert "sharpness: the experiment records its own 'sharpness' rows; none added" in outcome.notes


def test_a_column_of_another_type_keeps_the_experiments_rows_and_drops_the_sharpness(tmp_path):
    """``sgd_one_way``'s integer ``run`` beside the runner's text label made pyarrow refuse the
    whole run (found by ``reproduce``): a clash now drops the sharpness rows with a note."""
    outcome, path = _store(tmp_path, Tiny(int_fit=True))
    rows = store.read_rows(path)
    assert outcome.error is None and list(rows[rows.series == "other"].fit) == [3]
    assert not rows.series.isin(["sharpness", "two_over_eta"]).any()
    assert any(n.startswith("sharpness: not stored (column 'fit'") for n in outcome.notes)


def test_the_report_shows_the_sharpness_panel_escaped(stored, tmp_path):
    from implicit_bias.report import _run_section

    _, path, _, rows, _ = stored
    page = _run_section(path, {}, heading="Default run")
    assert "Sharpness λ_max(∇²L(θ))" in page
    assert "GD &lt;b&gt;product&lt;/b&gt;" in page and "<b>product</b>" not in page
    s = _series(rows, "sharpness", "GD")
    assert f"{s.value.iloc[0]:.6g}" in page and f"{s.value.iloc[-1]:.6g}" in page
    assert f"{2 / 0.05:.6g}" in page  # 2/η
    # a run without sharpness rows: no panel
    plain = tmp_path / "plain"
    store.write_run(plain, config=store.read_config(path), checks=[], figures={},
                    rows=pd.DataFrame({"t": [0.0], "series": ["loss"], "value": [1.0]}))  # fmt: skip
    assert "Sharpness" not in _run_section(plain, {}, heading="Run")
    # hostile rows: markup in the label, text where a number belongs: escaped, NaN, no crash
    hostile = tmp_path / "hostile"
    bad = pd.DataFrame({"t": [0.0, 1.0], "series": ["sharpness"] * 2, "i": [0, 0],
                        "fit": ["<script>x</script>"] * 2, "value": ["<i>1</i>", "2.5"]})  # fmt: skip
    store.write_run(hostile, config=store.read_config(path), checks=[], figures={}, rows=bad)
    page = _run_section(hostile, {}, heading="Run")
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>" not in page
    assert "<i>" not in page and "2.5" in page


def test_sgd_run_seeds_is_recorded_with_its_start_and_end():
    """``sgd.run_seeds`` (not a ``fit``) hands its batch to the recorder: a shared start is
    broadcast over the members, and each member's rows are λ_max at its start and its end (a custom
    observer keeps no other parameters), equal to ``hessian_top_k`` there (the same function, so
    equal to round-off of one eigensolve: 1e-12 relative, far below any difference of starts)."""
    from implicit_bias.optim.sgd import SGD, run_seeds

    model = ib.DeepMatrix(depth=2, n=2, init="gaussian", alpha=0.5)
    problem = ib.completion(n=2, rank=1, observed=3, seed=0)
    p0 = model.init_params(jax.random.key(3))
    method = SGD(eta=0.05, lam=1e-3, n_steps=50, save_every=10, batch_size=1)
    with api.recording() as rec:
        traj = run_seeds(model, problem, method, p0, [0, 1, 2], product)
    rows, notes = recorded_rows(rec, budget_s=60.0)
    assert len(rec.runs) == 1 and rec.runs[0].members == 3 and not rec.runs[0].observes_params
    want0 = hessian_top_k(model, problem, [p0], k=1)[0, 0]
    for i in range(3):
        mine = sorted((r["t"], r["value"]) for r in rows if r["i"] == i)
        assert len(mine) == 2, mine
        end = jax.tree.map(lambda x: x[i], traj.final)
        want1 = hessian_top_k(model, problem, [end], k=1)[0, 0]
        np.testing.assert_allclose([v for _, v in mine], [want0, want1], rtol=1e-12)
    assert not any(r["series"] == "two_over_eta" for r in rows)  # SGD: no GD bound
    assert notes and "3 runs" in notes[0]


# --- a batch of configs run together (``run_batch``: a sweep task) ---------------------------------


def test_a_batch_member_gets_the_rows_of_its_own_run_and_the_exact_hessian(tmp_path, monkeypatch):
    """dmf_identical's ``run_batch`` (three TINY configs, one vmapped computation) stores for each
    config the sharpness rows its own ``run`` stores: the same fits ("GD", "GD (matrices)": the
    batch label's " ×3" dropped), i = 0, the same t, and values that are λ_max of the exact Hessian
    at the batch's own start and end points. Against the single run's values: the batched GD ends
    within its round-off budget of the single one (dmf_identical.roundoff_tolerance, ~1e-11
    relative at 2,000 steps), and λ_max, a smooth function of θ (Weyl), moves by the same order:
    rtol = 25 × (2N − 2) × budget ≈ 1.1e-9, (2N − 2) = 4 the degree of ∇²L's entries in θ and 25
    room for the Hessian's own round-off (its entries sum up to n² products)."""
    from implicit_bias import experiments
    from implicit_bias.experiments import dmf_identical

    monkeypatch.setattr(rows_mod, "AUTO_BUDGET", float("inf"))  # every fit (the budget: below)
    mod = experiments.get("dmf_identical")
    cfgs = [config_mod.apply_overrides(mod.Config(), {**mod.TINY, "alpha": a, "eta": e},
                                       experiment="dmf_identical")
            for a, e in [(0.1, 0.005), (0.08, 0.004), (0.12, 0.003)]]  # fmt: skip
    recorder = api.FitRecorder(limit=16 * 3)
    with api.recording(recorder):
        mod.run_batch(cfgs)
    outs = runner.execute_many("dmf_identical", cfgs, root=tmp_path / "batch")
    rtol = 25 * 4 * dmf_identical.roundoff_tolerance([mod.TINY["n_steps"]], 4, 3)[0]
    for b, (cfg, out) in enumerate(zip(cfgs, outs)):
        assert any("computed for the batch of 3 configs at once" in n for n in out.notes)
        rows = store.read_rows(out.path)
        s = rows[rows.series == "sharpness"].sort_values(["fit", "t"])
        assert sorted(set(s.fit)) == ["GD", "GD (matrices)"] and set(s.i) == {0}
        # the exact Hessian at the recorded batch's points (member b's start and end)
        for run in recorder.runs:
            name = rows_mod._unbatched_label(run.label)
            traj = run.traj.member(b)
            p0 = run.params0[b]
            got = s[s.fit == name]
            np.testing.assert_array_equal(got.t, [traj.t[0], traj.t[-1]])
            for value, params in zip(got.value, [p0, traj.final]):
                H = np.asarray(jax.hessian(lambda x, m=run.model[b], p=run.problem[b], u=ravel_pytree(p0)[1]:
                                           objective(m, p, u(x)))(ravel_pytree(params)[0]))  # fmt: skip
                assert abs(value - np.linalg.eigvalsh(H)[-1]) <= _weyl_tol(H)
        two = rows[rows.series == "two_over_eta"]
        np.testing.assert_allclose(two.value, 2.0 / cfg.eta, rtol=0)
        alone = runner.execute("dmf_identical", cfg, root=tmp_path / "single", plot=False)
        r1 = store.read_rows(alone.path)
        s1 = r1[r1.series == "sharpness"].sort_values(["fit", "t"])
        assert list(s1.fit) == list(s.fit)
        np.testing.assert_array_equal(s1.t, s.t)
        np.testing.assert_allclose(s.value, s1.value, rtol=rtol)


def test_a_batch_keeps_only_fits_over_all_its_configs_and_its_time_budget(stored):
    """A recorded run that is not a batch of all n configs cannot be given to one config: left
    out with a note; the first batch always runs, the next only within the budget."""
    trajs = stored[4]
    gd = GD(eta=0.05, n_steps=99, save_every=1)
    rec = api.FitRecorder(limit=100)
    rec.add(MODEL, PROBLEM, gd, trajs["GD ×2"], "B ×2", [trajs["p0"], trajs["p1"]])
    rec.add(MODEL, PROBLEM, gd, trajs["GD"], "single", trajs["p0"])  # one run: no member b
    rec.add(MODEL, PROBLEM, gd, trajs["GD ×2"], "C ×2", [trajs["p0"], trajs["p1"]])
    per, notes = rows_mod.recorded_rows_batch(rec, 2, budget_s=float("inf"))
    assert [sorted({r["fit"] for r in rows if r["series"] == "sharpness"}) for rows in per] == [
        ["B", "C"], ["B", "C"]
    ]
    assert "1 runs not a batch of all 2 configs" in notes[0]
    # member 1's rows: the batch's member 1, the same values as the single-run path gives it
    single = pd.DataFrame(recorded_rows(rec, budget_s=float("inf"))[0])
    mine = pd.DataFrame(per[1])
    want = single[(single.fit == "B ×2") & (single.i == 1) & (single.series == "sharpness")]
    got = mine[(mine.fit == "B") & (mine.series == "sharpness")]
    np.testing.assert_array_equal(got.t, want.t)
    H = _dense(jax.tree.map(lambda x: np.asarray(x)[1, -1], trajs["GD ×2"].observed))
    np.testing.assert_allclose(got.value, want.value, rtol=0, atol=_weyl_tol(H))
    clock = itertools.count(0.0, 10.0)
    per, notes = rows_mod.recorded_rows_batch(rec, 2, budget_s=1.0, clock=lambda: next(clock))
    assert {r["fit"] for r in per[0]} == {"B"} and "1 runs over the time budget (1 s)" in notes[0]


def test_repeated_points_are_computed_once_and_agree(stored):
    """``hessian_top_k_each`` computes a repeated (model, problem, point) once; every copy gets
    its value, equal to the single-model ``hessian_top_k``."""
    trajs = stored[4]
    pts = [trajs["p0"], trajs["p1"], trajs["p0"], trajs["GD"].final, trajs["p1"]]
    got = sharp_mod.hessian_top_k_each([MODEL] * 5, [PROBLEM] * 5, pts, k=2)
    want = hessian_top_k(MODEL, PROBLEM, pts, k=2)
    np.testing.assert_array_equal(got[0], got[2])
    np.testing.assert_array_equal(got[1], got[4])
    H = _dense(trajs["GD"].final)
    np.testing.assert_allclose(got, want, rtol=0, atol=_weyl_tol(H) + _weyl_tol(_dense(trajs["p0"])))
