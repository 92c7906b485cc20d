"""The runner's sharpness rows: λ_max(∇²L) along every small run of an experiment (issue 21 §1).

``recorded_rows(recorder, budget_s=…)`` turns the runs an ``optim.recorder.FitRecorder`` kept into
rows ``sharpness`` (and ``two_over_eta`` for GD) at ≤ ``AUTO_SNAPSHOTS`` snapshots each;
``recorded_rows_batch(recorder, n, budget_s=…)`` does the same for ``n`` configs run together
(an experiment's ``run_batch``: a sweep task), config b's rows from member b of each recorded batch.
The Hessians are ``optim.sharpness``'s (exact, dense, float64). ``runner`` calls both.
"""

import jax
import numpy as np

from implicit_bias.optim import sharpness as _sharp, trajectory as _trajectory

AUTO_SNAPSHOTS = 10  # at most this many snapshots per run: every ⌈S/9⌉-th and the last
AUTO_MAX_PARAMS = 500  # runs of at most this many parameters (as explore's sharpness rows)
AUTO_LIMIT = 16  # the first this many runs of an experiment (a batch member counts as one)
AUTO_BUDGET = 0.10  # of the experiment's own wall time, after the first run (which always runs)
SERIES = ("sharpness", "two_over_eta")


def _run_names(labels: list[str]) -> list[str]:
    """The labels, a repeated one numbered from its second use on: GD, GD #2, …"""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


def _gd_eta(method, member) -> float | None:
    """η of a GD run without weight decay (its linear-stability bound on λ_max(∇²L) is 2/η), else
    None (another method, or GD with decay λ_wd, whose bound is 2/η − 2λ_wd)."""
    from implicit_bias.optim.gd import GD

    if not isinstance(method, GD) or np.any(np.asarray(method.weight_decay) != 0):
        return None
    eta = np.asarray(method.eta, float)
    return float(eta) if eta.ndim == 0 else float(eta[member])


def _member_rows(run, member, name: str, snapshots: int) -> list[dict]:
    """The rows of one run (``member`` None) or one batch member."""
    pick = lambda v: v[member] if member is not None and isinstance(v, list) else v  # noqa: E731
    model, problem, method = pick(run.model), pick(run.problem), pick(run.method)
    traj = run.traj if member is None else run.traj.member(member)
    t_all = np.asarray(traj.t, float)
    if run.observes_params:
        every = max(1, -(-t_all.size // (snapshots - 1)))  # ⌈S/(n−1)⌉: ≤ n − 1 picks, + the last
        s = _sharp.sharpness_along(model, problem, traj, k=1, every=every)
        t, lam = np.asarray(s.t, float), s.max
    else:  # a custom observer: the start and the end, the only parameters the run kept
        p0 = run.params0
        if member is not None:
            p0 = p0[member] if isinstance(p0, list) else jax.tree.map(lambda x: x[member], p0)
        if int(np.asarray(traj.status)) == _trajectory.DIVERGED:  # ``final``: at no snapshot's t
            t, points = t_all[:1], [p0]
        else:
            t, points = np.array([t_all[0], t_all[-1]]), [p0, traj.final]
        lam = _sharp.hessian_top_k(model, problem, points, k=1)[:, 0]
    i = 0 if member is None else int(member)
    rows = [{"t": float(a), "series": "sharpness", "i": i, "fit": name, "value": float(b)}
            for a, b in zip(t, lam)]  # fmt: skip
    eta = _gd_eta(method, member)
    if eta is not None:
        rows += [{"t": float(a), "series": "two_over_eta", "i": i, "fit": name, "value": 2.0 / eta}
                 for a in t]  # fmt: skip
    return rows


def recorded_rows(recorder, *, budget_s: float, snapshots: int = AUTO_SNAPSHOTS,
                  clock=None) -> tuple[list[dict], list[str]]:  # fmt: skip
    """Rows ``sharpness`` (λ_max(∇²L(θ)), by ``hessian_top_k``: the exact float64 Hessian) for the
    runs in ``recorder`` (``optim.api.FitRecorder``), and notes saying what was left out.

    A run that observed its parameters gets λ_max at ≤ ``snapshots`` evenly spaced snapshots
    (``sharpness_along(…, every=⌈S/(snapshots−1)⌉)``, the last always included); one with a custom
    observer at its start (``params0``) and end (``traj.final``; the start only if it diverged,
    where ``final`` is the last finite point, not a snapshot's). Each row: ``t``, ``series``,
    ``i`` (the batch member, 0 for a single run), ``fit`` (its label, numbered when repeated),
    ``value``. A GD run without weight decay also gets ``two_over_eta`` = 2/η at the same t (the
    linear-stability bound: GD on a quadratic is stable iff η λ_max < 2; Cohen et al., ICLR 2021).
    After the first run, a run starts only while less than ``budget_s`` has been spent. A run whose
    sharpness cannot be computed gets a note, never an exception.
    """
    import time

    clock = clock or time.perf_counter
    start = clock()
    rows, notes = [], []
    names = _run_names([r.label for r in recorder.runs])
    done = over_time = 0
    for k, (run, name) in enumerate(zip(recorder.runs, names)):
        size = 1 if run.members is None else run.members
        if k > 0 and clock() - start >= budget_s:
            over_time += sum(1 if r.members is None else r.members for r in recorder.runs[k:])
            break
        members = [None] if run.members is None else list(range(run.members))
        try:
            rows += [r for m in members for r in _member_rows(run, m, name, snapshots)]
            done += size
        except Exception as e:  # noqa: BLE001 - never fails the run: a note instead
            first = (str(e).splitlines() or [""])[0][:200]
            notes.append(f"sharpness: not computed for {name} ({type(e).__name__}: {first})")
    left = [(recorder.n_too_large, f"over {recorder.max_params} parameters"),
            (recorder.n_over_limit, f"past the first {recorder.limit}"),
            (over_time, f"over the time budget ({budget_s:.3g} s)")]  # fmt: skip
    left = "; ".join(f"{n} runs {why}" for n, why in left if n)
    if done or left:
        spent = clock() - start
        line = (f"sharpness: λ_max(∇²L) of {done} runs at ≤ {snapshots} snapshots each "
                f"(rows 'sharpness', GD also 'two_over_eta'; {spent:.2g} s)")  # fmt: skip
        notes.insert(0, line + (f"; not computed: {left}" if left else ""))
    return rows, notes


# ---------------------------------------------------------------------------------------------
# the same rows for a batch of configs run as one vmapped computation (``run_batch``: a sweep task)


def _unbatched_label(label: str) -> str:
    """A batch's label as its members' single runs are labelled: "GD ×125 (matrices)" → "GD
    (matrices)" (the experiments name a batch of B runs "<label> ×B")."""
    import re

    return re.sub(r" ×\d+", "", label)


def _member_points(run, b: int, snapshots: int):
    """(model, problem, method, [(t, θ)]) of member ``b`` of a recorded batch: ≤ ``snapshots``
    snapshots if the run observed its parameters, else its start and end (the start only if it
    diverged), as ``_member_rows`` takes them."""
    pick = lambda v: v[b] if isinstance(v, list) else v  # noqa: E731
    traj = run.traj.member(b)
    t_all = np.asarray(traj.t, float)
    if run.observes_params:
        S = t_all.size
        every = max(1, -(-S // (snapshots - 1)))
        sel = np.unique(np.concatenate([np.arange(0, S, every), [S - 1]]))
        pts = [(t_all[j], jax.tree.map(lambda x, j=j: np.asarray(x)[j], traj.observed))
               for j in sel]  # fmt: skip
    else:
        p0 = run.params0
        p0 = p0[b] if isinstance(p0, list) else jax.tree.map(lambda x: np.asarray(x)[b], p0)
        pts = [(t_all[0], p0)]
        if int(np.asarray(traj.status)) != _trajectory.DIVERGED:
            pts.append((t_all[-1], traj.final))
    return pick(run.model), pick(run.problem), pick(run.method), pts


def recorded_rows_batch(recorder, n: int, *, budget_s: float, snapshots: int = AUTO_SNAPSHOTS,
                        clock=None) -> tuple[list[list[dict]], list[str]]:  # fmt: skip
    """``recorded_rows`` for ``n`` configs run together (an experiment's ``run_batch``): the rows
    of config ``b`` are those its own run would get, from member ``b`` of every recorded batch of
    ``n`` members (``i`` = 0 and ``fit`` = the label without its " ×n", as in a single run). The
    Hessians of all members and snapshots of a batch are one vmapped computation
    (``sharpness.hessian_top_k_each``). A recorded run that is not a batch of all ``n`` configs
    cannot be assigned to one: it is left out with a note. Returns (rows per config, notes for
    every config)."""
    import time

    clock = clock or time.perf_counter
    start = clock()
    per = [[] for _ in range(n)]
    notes: list[str] = []
    runs = [r for r in recorder.runs if r.members == n and np.ndim(r.traj.t) == 2]
    unassigned = len(recorder.runs) - len(runs)
    names = _run_names([_unbatched_label(r.label) for r in runs])
    done = over_time = 0
    for k, (run, name) in enumerate(zip(runs, names)):
        if k > 0 and clock() - start >= budget_s:
            over_time += len(runs) - k
            break
        try:
            members = [_member_points(run, b, snapshots) for b in range(n)]
            flat = [(b, t, p) for b, (_, _, _, pts) in enumerate(members) for t, p in pts]
            lam = _sharp.hessian_top_k_each([members[b][0] for b, _, _ in flat],
                                     [members[b][1] for b, _, _ in flat],
                                     [p for _, _, p in flat], k=1)[:, 0]  # fmt: skip
        except Exception as e:  # noqa: BLE001 - never fails the runs: a note instead
            first = (str(e).splitlines() or [""])[0][:200]
            notes.append(f"sharpness: not computed for {name} ({type(e).__name__}: {first})")
            continue
        for (b, t, _), value in zip(flat, lam):
            per[b].append({"t": float(t), "series": "sharpness", "i": 0, "fit": name,
                           "value": float(value)})  # fmt: skip
        for b in range(n):
            eta = _gd_eta(members[b][2], b)
            if eta is not None:
                per[b] += [{"t": float(t), "series": "two_over_eta", "i": 0, "fit": name,
                            "value": 2.0 / eta} for t, _ in members[b][3]]  # fmt: skip
        done += 1
    left = [(unassigned, f"not a batch of all {n} configs"),
            (recorder.n_too_large, f"over {recorder.max_params} parameters"),
            (recorder.n_over_limit, f"past the first {recorder.limit}"),
            (over_time, f"over the time budget ({budget_s:.3g} s)")]  # fmt: skip
    left = "; ".join(f"{m} runs {why}" for m, why in left if m)
    if done or left:
        line = (f"sharpness: λ_max(∇²L) of {done} runs per config at ≤ {snapshots} snapshots each, "
                f"computed for the batch of {n} configs at once (rows 'sharpness', GD also 'two_over_eta'; "
                f"{clock() - start:.2g} s for the batch)")  # fmt: skip
        notes.insert(0, line + (f"; not computed: {left}" if left else ""))
    return per, notes
