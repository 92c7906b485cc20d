"""One question run, measured, checked, plotted and stored like an experiment run (the experiment
interface ``run``/``plot``: this module is what ``runner.run_and_store`` gets)."""

import sys
from pathlib import Path

import numpy as np

from implicit_bias import checks, config as config_mod, store
from implicit_bias.errors import DivergenceError
from implicit_bias.explore.build import baselines, loss_floor, setup
from implicit_bias.explore.question import NAME, NO_THEORY, Question
from implicit_bias.explore.theory import theory_checks, why_no_theory


def _rows(t, series, values, i=None) -> list[dict]:
    values = np.asarray(values)
    if values.ndim == 1:
        return [{"t": float(a), "series": series, "i": -1 if i is None else i, "value": float(v)}
                for a, v in zip(t, values)]  # fmt: skip
    rows = []
    for j in range(values.shape[1]):
        rows += _rows(t, series, values[:, j], j)
    return rows


KEEP_SNAPSHOTS = (
    2**16
)  # matrices with at most this many entries keep every snapshot (theory checks)


SADDLE_MAX_PARAMS = 5_000  # saddles() runs on a question with at most this many parameters


def _saddles(q: Question, s, traj, params) -> tuple[list[dict], list[str]]:
    """``Trajectory.saddles`` on the run (its snapshots' parameters ``params``): rows
    ``plateau_index`` (t = the plateau's middle, i = its number, value = the Hessian index),
    ``plateau_start``/``plateau_end``, and a note with the table (matched to the limit path where an
    oracle covers the question). Never fails the run: what it cannot do is a note."""
    import dataclasses

    from implicit_bias.theory.oracles import limit_path

    try:
        path = limit_path(s.problem, s.model) if q.method == "flow" else None
    except Exception:  # no oracle covers the question: saddles without a path
        path = None
    try:
        found = dataclasses.replace(traj, observed=params).saddles(s.model, s.problem, path=path)
    except Exception as e:  # a run too short, a model it does not refine, …
        return [], [f"saddles: not found ({type(e).__name__}: {str(e).splitlines()[0]})"]
    frame = found.to_frame()
    rows = []
    for r in frame.itertuples():
        for name, v in (("plateau_index", r.index), ("plateau_start", r.t_start),
                        ("plateau_end", r.t_end)):  # fmt: skip
            rows.append({"t": float(r.t_mid), "series": name, "i": int(r.k), "value": float(v)})
    cols = [c for c in ("k", "t_start", "t_end", "loss", "rank_or_support", "index", "kind",
                        "matched_jump") if c in frame]  # fmt: skip
    table = frame[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}")
    head = f"saddles: {len(frame)} plateaus (Trajectory.saddles"
    head += ", matched to the α → 0 path)" if path is not None else ")"
    return rows, [head + ":\n" + table]


SHARPNESS_MAX_PARAMS = 500  # λ_max(∇²L) at every snapshot (the exact float64 Hessian) up to this size


def _sharpness(q: Question, s, t, params) -> tuple[list[dict], list[str]]:
    """λ_max(∇²L(θ)) at every snapshot (``optim.sharpness.hessian_top_k``, the exact float64
    Hessian): rows ``sharpness``; for GD also ``two_over_eta`` and a note with λ_max·η/2 at the end
    (> 1: past the linear-stability bound 2/λ_max, Cohen et al. 2021). Never fails the run."""
    from implicit_bias.optim.sharpness import hessian_top_k

    try:
        lam = hessian_top_k(s.model, s.problem, params, k=1)[:, 0]
    except Exception as e:  # noqa: BLE001 - a model the Hessian code cannot take: a note
        return [], [f"sharpness: not computed ({type(e).__name__}: {str(e).splitlines()[0]})"]
    rows = _rows(t, "sharpness", lam)
    line = f"sharpness: λ_max(∇²L) {lam[0]:.4g} at the start, {lam[-1]:.4g} at the end"
    if q.method == "gd":
        rows += _rows(t, "two_over_eta", np.full(t.shape, 2.0 / q.eta))
        line += f"; λ_max·η/2 = {lam[-1] * q.eta / 2:.3g} at the end (GD is linearly stable at ≤ 1)"
    return rows, [line]


def _observer(s, refs: dict, keep_X: bool, keep_params: bool = False):
    """observe(params) → what each snapshot records: singular values (not the matrix, unless it is
    small), the test error, the distance to the truth and to each baseline, the value range on the
    hidden entries. A 3000×3000 question keeps 60 spectra, not 60 matrices."""
    import jax.numpy as jnp

    model, test = s.model, s.test
    err = test.error if test is not None else None
    hidden = (
        test.hidden if test is not None and test.hidden is not None and test.hidden.any() else None
    )
    hidden = None if hidden is None else jnp.asarray(hidden)
    refs = {k: (jnp.asarray(B), max(float(np.linalg.norm(B)), 1e-300)) for k, B in refs.items()}
    samples = (
        jnp.asarray(s.problem.X) if hasattr(s.problem, "X") and hasattr(s.problem, "Y") else None
    )
    fitted = (
        {k: max(float(jnp.linalg.norm(samples @ B)), 1e-300) for k, (B, _) in refs.items()}
        if samples is not None
        else {}
    )

    def observe(params):
        X = model(params)
        out = {"params": params} if keep_params else {}
        if X.ndim == 2:
            out["sv"] = jnp.linalg.svd(X, compute_uv=False)
        if keep_X or X.ndim == 1:
            out["X"] = X
        if err is not None:
            out["test"] = err(X)
        for k, (B, scale) in refs.items():
            out["d:" + k] = jnp.linalg.norm(X - B) / scale
            if samples is not None:  # regression: the distance in prediction space ‖X(W − B)‖/‖XB‖
                out["p:" + k] = jnp.linalg.norm(samples @ (X - B)) / fitted[k]
        if hidden is not None:
            out["hidden_min"] = jnp.min(jnp.where(hidden, X, jnp.inf))
            out["hidden_max"] = jnp.max(jnp.where(hidden, X, -jnp.inf))
        return out

    return observe


def _norm(X: np.ndarray) -> float:
    """The estimate's nuclear norm (a matrix) or ℓ1 norm (a vector)."""
    X = np.asarray(X)
    return float(np.linalg.norm(X, "nuc") if X.ndim == 2 else np.abs(X).sum())


def _convergence(q: Question, traj, t, loss, floor: float) -> str:
    """One line: did the run reach its limit, stall on a plateau or run out of steps? (L_min: the
    least-squares floor of regression, else 0)."""
    from implicit_bias.optim.trajectory import STOPPED_AT_TOL

    target = floor + q.rel_tol * (loss[0] - floor)
    if q.method == "flow":
        if int(traj.status) == STOPPED_AT_TOL:
            if not floor:
                return f"converged: L < rel_tol · L(0) = {target:.3g} at t = {t[-1]:.4g}"
            return (f"converged: L − L_min < rel_tol · (L(0) − L_min) at t = {t[-1]:.4g} "
                    f"(L = {loss[-1]:.4g}, L_min = {floor:.4g})")  # fmt: skip
        return (f"unconverged: the flow reached t1 = {q.t1:g} with L = {loss[-1]:.3g} > "
                f"{target:.3g}; raise --t1")  # fmt: skip
    tail = loss[-max(3, len(loss) // 6) :]  # the last sixth of the log-spaced snapshots (a decade)
    drop = float(tail[0] - tail[-1]) / max(float(tail[0] - floor), 1e-300)
    if loss[-1] <= target:
        return f"converged: L = {loss[-1]:.3g} ≤ {target:.3g} after {int(t[-1])} steps"
    span = f"steps {int(t[-len(tail)])}–{int(t[-1])}"
    if drop < 1e-3:
        return (f"on a plateau: L = {loss[-1]:.3g} changed by {drop:.1e} (relative) over {span}; "
                "more steps or a larger η may leave it")  # fmt: skip
    return (
        f"unconverged: L = {loss[-1]:.3g} still falling ({drop:.1%} over {span}); raise --n-steps"
    )


def _step_bound(q: Question, s) -> str:
    """The stability bound of GD at the start, for a diverged run's message: η < 2/λ_max(∇²L(θ₀))."""
    from implicit_bias.optim.objective import sharpness

    lam = float(sharpness(s.model, s.problem, s.params0)[0])
    if lam <= 0:
        return ""
    return (
        f"This problem's bound at the start is η < 2/λ_max(∇²L(θ₀)) = {2 / lam:.4g} (η = "
        f"{q.eta:g}); a necessary condition only: the sharpness grows along the run."
    )


def run(q: Question):
    """Build, fit, measure and check one question: an ``experiments.Result`` whose ``arrays`` hold
    the final estimate and every baseline's solution (``estimates.parquet`` in the run)."""
    from implicit_bias.experiments import Result
    from implicit_bias.optim import fit

    s = setup(q)
    if getattr(q, "etas", ()):  # --eta a:b:n: a regime map over the step size (explore.etamap)
        from implicit_bias.explore.etamap import run_map

        return run_map(q, s, loss_floor(s.problem))
    base = baselines(q, s, q.baselines)
    if q.method == "limit":
        from implicit_bias.explore.limit import run_limit

        return run_limit(q, s, base)
    refs = {**({"truth": s.truth} if s.truth is not None else {}), **base}
    keep_X = int(np.prod(s.problem.shape)) <= KEEP_SNAPSHOTS
    import jax

    n_params = sum(int(np.size(x)) for x in jax.tree.leaves(s.params0))
    keep_params = n_params <= SADDLE_MAX_PARAMS and q.method in ("flow", "gd")
    try:
        traj = fit(s.model, s.problem, s.method, params0=s.params0,
                   observe=_observer(s, refs, keep_X, keep_params),
                   label=f"{q.method} {q.problem}")  # fmt: skip
    except DivergenceError as e:
        raise DivergenceError(f"{e} {_step_bound(q, s)}", step=e.step, last_loss=e.last_loss,
                              trajectory=e.trajectory) from None  # fmt: skip
    t, loss = np.asarray(traj.t, float), np.asarray(traj.loss, float)
    params = traj.observed.pop("params", None) if keep_params else None
    obs = {k: np.asarray(v) for k, v in traj.observed.items()}
    X_end = np.asarray(s.model(traj.final))
    rows = _rows(t, "loss", loss)
    if "sv" in obs:
        sv = obs["sv"]
        rows += _rows(t, "singular_value", sv[:, : min(sv.shape[1], 10)])
        top = np.maximum(sv[:, 0], 1e-300)
        rows += _rows(t, "effective_rank", np.where(sv[:, 0] > 0, sv.sum(1) / top, 0.0))
        rows += _rows(t, "norm", sv.sum(1))
    else:
        X = obs["X"]
        order = np.argsort(-np.abs(X_end))[: min(X.shape[1], 10)]
        rows += _rows(t, "entry", X[:, order])
        rows += _rows(t, "norm", np.abs(X).sum(1))
    for k in refs:
        rows += _rows(t, f"distance_to_{k}", obs["d:" + k])
        if "p:" + k in obs:
            rows += _rows(t, f"prediction_distance_to_{k}", obs["p:" + k])
    notes = [
        f"path: {traj.path}",
        f"convergence: {_convergence(q, traj, t, loss, loss_floor(s.problem))}",
    ]
    notes += [f"data: {n}" for n in s.notes]
    const = lambda name, v: _rows(t, name, np.full(t.shape, float(v)))  # noqa: E731
    if "test" in obs:
        test = obs["test"]
        rows += _rows(t, "test_error", test)
        best = int(np.nanargmin(test))
        notes.append(
            f"diagnostic: test error on {s.test.what}: {test[-1]:.4g} at the end, best "
            f"{test[best]:.4g} at {'t' if q.method == 'flow' else 'step'} {t[best]:.4g} (early stopping)"
        )
        for b, B in base.items():
            e = float(s.test.error(B))
            rows += const(f"test_error_{b}", e)
            notes.append(f"diagnostic: baseline {b}: test error {e:.4g}, norm {_norm(B):.4g}")
    elif s.test is not None:
        notes.append(f"diagnostic: {s.test.what}")
    for b, B in base.items():
        rows += const(f"norm_{b}", _norm(B))
    kind = "nuclear norm" if X_end.ndim == 2 else "ℓ1 norm"
    notes.append(f"diagnostic: {kind} of the estimate {_norm(X_end):.4g}"
                 + "".join(f"; of {b} {_norm(B):.4g}" for b, B in base.items()))  # fmt: skip
    if "hidden_min" in obs:
        y = np.asarray(s.problem.y)
        lo, hi = float(y.min()), float(y.max())
        rows += _rows(t, "hidden_min", obs["hidden_min"]) + _rows(
            t, "hidden_max", obs["hidden_max"]
        )
        rows += const("observed_min", lo) + const("observed_max", hi)
        h_lo, h_hi = float(obs["hidden_min"][-1]), float(obs["hidden_max"][-1])
        line = f"diagnostic: hidden entries in [{h_lo:.4g}, {h_hi:.4g}]; observed values in [{lo:.4g}, {hi:.4g}]"
        span = max(hi - lo, 1e-12)
        if h_lo < lo - span or h_hi > hi + span:
            line += (
                " — a blow-up: the hidden entries leave the observed range by more than its width"
            )
        notes.append(line)
    if params is not None:
        more, lines = _saddles(q, s, traj, params)
        rows += more
        notes += lines
        if n_params <= SHARPNESS_MAX_PARAMS:
            more, lines = _sharpness(q, s, t, params)
            rows += more
            notes += lines
    elif q.method in ("flow", "gd"):
        notes.append(f"saddles: not searched ({n_params:,} parameters > {SADDLE_MAX_PARAMS:,}; "
                     "Trajectory.saddles runs on any run in Python)")  # fmt: skip
    found = [
        checks.sanity("the loss decreased", bool(loss[-1] < loss[0]),
                      predicted="L(end) < L(0)", observed=f"{loss[0]:.3g} → {loss[-1]:.3g}"),
    ]  # fmt: skip
    snapshots = obs.get("X") if X_end.ndim == 1 or keep_X else None
    theory, applied = theory_checks(q, s, traj, X_end, base, snapshots)
    found += theory
    notes.insert(1, "theory: " + ("; ".join(applied) if applied else NO_THEORY + why_no_theory(q)))
    if s.truth is None:
        notes.append("the truth is unknown (user data): no distance to X*")
    arrays = {"estimate": X_end, **{f"baseline_{b}": np.asarray(B) for b, B in base.items()}}
    return Result(rows=rows, checks=found, notes=notes, arrays=arrays)


def plot(rows, cfg: Question) -> dict:
    """The question's figure (``explore.figures.plot``): loss, spectrum, test error next to the
    baselines with the best early stop, the hidden-entry range next to the observed one."""
    from implicit_bias.explore.figures import plot as draw

    if getattr(cfg, "etas", ()):
        from implicit_bias.explore.etamap import plot_map

        return plot_map(rows, cfg)
    if getattr(cfg, "method", "") == "limit":
        from implicit_bias.explore.limit import plot_limit

        return plot_limit(rows, cfg)
    return draw(rows, cfg)


def execute(
    q: Question, *, root=store.DEFAULT_ROOT, force: bool = False, plot_figures: bool = True
):
    """Run ``q`` unless stored; store it under ``root/explore/<hash>`` like an experiment run."""
    from implicit_bias import runner

    path = store.run_path(Path(root), NAME, config_mod.config_hash(NAME, q))
    # this module is what the runner needs of an experiment module: run(cfg) and plot(rows, cfg)
    module = sys.modules[__name__]
    return runner.run_and_store(NAME, module, q, path, force=force, plot=plot_figures)
