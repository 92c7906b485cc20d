"""The saddles a run visited: plateaus in log-time, refined to critical points and certified.

    found = traj.saddles(model, problem)              # or saddles(traj, model, problem)
    found.to_frame()                                  # one row per plateau
    found = traj.saddles(model, problem, path=limit_path(problem, model), alpha=model.alpha)

A flow from a small initialization goes from saddle to saddle (Jacot et al. 2021; Pesme &
Flammarion 2023): it sits near a critical point for a time τ(α) ~ log(1/α) (depth 2) or α^{2−N}
(depth N ≥ 3), then falls to the next one within O(1) time. In log t the loss is then a staircase.
Four steps, each with its own check:

1. **Plateaus (detect).** For the snapshots at t > 0, u = log t, the *log-time speed* of each
   interval between snapshots is

       loss       σ_L = |Δ log(L + L_floor)| / Δu                       (relative loss change per e-fold)
       support    σ_x = ‖Δx‖ / (Δu · max_t ‖x(t)‖)                        (x = model(θ), a vector)
       spectrum   σ_s = ‖Δ sv(X)‖ / (Δu · max_t ‖sv(X(t))‖)               (X = model(θ), a matrix)
       auto       √(σ_L σ_state), state = support or spectrum by the model's output

   clipped below at ``speed_floor`` (1e-3: slower than 0.1% per e-fold counts as standing still, and
   solver noise below it cannot make a false jump). L_floor = ``loss_floor``·max L (1e-10): a loss
   converging to 0 stops moving in log scale once it is that small. A *jump* is a local maximum of
   log₁₀ σ whose prominence (SciPy's definition in ``signal.find_peaks``, reimplemented in
   ``prominent_peaks`` and tested equal: its height above the higher of the two valley floors that
   separate it from higher peaks) is at least ``prominence`` decades (0.5, a factor ≈ 3.2;
   measured at α = 1e-8, depth 2: the jumps between resolved saddles stand 0.6–1.3 decades above
   the valleys on both sides); the snapshots between two jumps (or a jump and an end of the run) are a *valley*, and
   its plateau is the connected part around the valley's floor where log σ stays below the
   midpoint between the floor and the lower of the two jumps around it. So every threshold is
   relative to the run's own signal except the two floors. Why a valley rule and not a fixed
   flatness threshold: at depth 2 a short step of the limit path (t̃_{k+1}/t̃_k = 1.1) never gets
   flat at α ≥ 1e-30 (its slope stays ≈ 1 while the jumps around it reach 15), yet it is a dip
   between two jumps. A plateau of a run from a *large* start, or the first decades of any run on
   a log grid, is also flat in log t; those are removed in step 2.
2. **Refine and accept.** The plateau's representative snapshot θ_mid (the geometric middle of the
   plateau; the last snapshot for a plateau that reaches the end of the run) is refined to the
   nearby critical point θ*:

   * ``Hadamard`` (depth ≥ 2) on ``Linear``: for the nested supports S_k = the k largest |x_mid,i|,
     the sign-constrained least squares argmin ½‖A_S b − y‖², sign(b) = sign(x_mid,S) (SciPy's
     BVLS, ``lsq_linear``), keeping the k whose solution is nearest to x_mid; lifted to the params
     as w = |x|^{1/N} on the support (u, v from the positive and negative parts), 0 off it. It is an
     exact critical point: ∂L/∂w_i = N w_i^{N−1} ∇L(x)_i vanishes where w_i = 0 and ∇L(x)_i = 0
     where b_i ≠ 0 (KKT of the least squares);
   * ``DeepMatrix`` (depth ≥ 2) and ``SymmetricFactor``: for each rank k, the factors restricted to
     the k leading singular directions of the snapshot's hidden layers (W_1 = Q_1φ_1, W_j =
     Q_jφ_jQ_{j−1}ᵀ, W_N = φ_NQ_{N−1}ᵀ, Q_j the top-k left singular vectors of W_j⋯W_1; U = φQᵀ, Q the
     top-k right singular vectors of U), minimizing L over φ by SciPy's ``trust-exact`` (JAX
     gradient and Hessian), keeping the k whose product is nearest to the snapshot's among the
     *isolated* ones. This subspace is invariant under the gradient (a factor's gradient lies in
     the span of its neighbours), so the restricted minimizer is a critical point of the full
     objective. Three rules make "nearest" well posed where critical points are not isolated or
     crowd near a minimum (sensing with m < n(n+1)/2 measurements: the interpolating PSD matrices
     of rank k form a continuum of dimension nk − k(k−1)/2 − m through X*, and rank-(r+1) saddles
     of loss ~1e-16 lie ~1e-5 from a rank-r minimizer): no rank above the snapshot's numerical rank
     #{σ_i > √ε·max‖X(t)‖} is tried (the run does not have that component); a rank-k point whose
     restricted Hessian has more zero eigenvalues than the gauge (k(k−1)/2 for UUᵀ, (N−1)k² for
     the N factors) lies on such a continuum, where the point the optimizer stops at depends on its path and can always be
     nearer than the isolated one, so it is kept only when no isolated rank is found; and a rank-k
     point whose k-th component changes the loss by at most 1e3·ε·L_ref when removed (L_ref the
     larger of L(0) and the snapshot's loss) is dropped as a lower-rank point up to round-off. On
     ``sensing_glrl``'s instance (n = 5, m = 12) without them the end of the run refined to a
     rank-4 interpolant (0.004–0.007 from X*, α = 1e-6 … 1e-16, certified a "minimum" that
     matched nothing), with the isolation rule only to a rank-3 saddle of loss 5e-17 (3e-7 from
     X*), and at seed 2 (α = 1e-12) to a rank-3 saddle of loss 6e-16, 2.4e-5 from X*, though the
     snapshot's σ₃ was 2e-15; with all three, to X* (1.1e-12 and 4e-14 from GLRL's end);
   * anything else: Newton steps θ ← θ − H⁺∇L (MINRES on Hessian–vector products), the nearest
     critical point of any index.

   The plateau is *accepted* only if L(θ*) lies in the plateau's loss range widened by its own
   width and by L_floor: a plateau that is flat only because t is small compared to the time scale
   (any run's first decades on a log grid) refines to a point of different loss and is reported in
   ``Saddles.rejected`` instead. Two neighbouring plateaus that refine to one point are merged.
3. **Certify.** The Hessian of the parameter loss at θ* (float64; dense ``jax.hessian`` for at most
   ``dense_max`` = 2000 parameters, else Lanczos: ``eigsh(which="SA")`` on Hessian–vector products
   for the ``n_eig`` smallest eigenvalues and ``which="LA"`` for the largest). An eigenvalue counts
   as negative below −tol and as zero within ±tol,

       tol = 100·p·ε·‖H‖₂ + 10·‖∇L(θ*)‖,

   the first term the backward error of a symmetric eigensolver (and of the Hessian's own rounding,
   ε = 2.2e-16, p parameters), the second the first-order shift of the spectrum between θ* and the
   exact critical point for objectives whose third derivatives are O(‖H‖) at O(1) parameters (the
   polynomial models here). ``kind``: "strict saddle (index k)" if k > 0 eigenvalues are negative;
   otherwise the loss is tested along a curve that moves the product by s^N·D with D the top
   descent direction of the *end-to-end* loss (D = ±e_i for a zero coordinate of a Hadamard
   model; D = abᵀ, the top singular pair of −∇_X L, for DeepMatrix with W_j += s·q_jq_{j−1}ᵀ and q_j
   in the null spaces of the neighbouring factors, so that no cross term survives; D = aaᵀ for
   UUᵀ, U += s·azᵀ, z ∈ null(U)): if L falls by more than 1e3·ε·L(0) at some s, it is a
   "degenerate (higher-order) saddle" (index 0, the descent is at order s^N, N ≥ 3), else a
   "minimum". Models without such a curve get "second-order critical point".
4. **Escape and match.** The direction the run leaves in, Δ = θ(t_end) − θ(t_mid), against the
   eigenspace of the smallest eigenvalue (``escape_cos`` = ‖P Δ‖/‖Δ‖, a cosine that does not depend
   on the basis of a repeated eigenvalue) and against all negative eigenvectors
   (``escape_unstable``); at a degenerate saddle against the descent curve's direction. With
   ``path`` (a ``LimitPath``) and ``alpha``, each saddle's nearest path point, its distance, and
   the predicted interval [t̃_j τ(α), t̃_{j+1} τ(α)]; ``match`` when the point agrees to
   ``match_tol`` (relative) and the plateau's middle lies in that interval. Path points no plateau
   matched are in ``Saddles.missed``.

Where it does not apply: a batched trajectory (use ``traj.member(i)``), a trajectory recorded with
an ``observe`` other than the identity (the parameters are needed at every snapshot), fewer than
``min_snapshots`` snapshots at t > 0. Lanczos counts negative and zero eigenvalues among the
``n_eig`` it computes only (``index_exact`` False when they are all negative).
"""

import dataclasses

import jax
import numpy as np

from implicit_bias.errors import ConfigError
from implicit_bias.optim._saddles_certify import (  # noqa: F401  (the module's public namespace)
    Certificate,
    _curve_descends,
    _descent_curve,
    certify,
)
from implicit_bias.optim._saddles_common import (  # noqa: F401
    EPS,
    _e2e_gradient,
    _factor_kind,
    _flat,
    _flat_derivs,
    _flat_grad,
    _flat_hvp,
    _is_hadamard,
    _loss_of,
    _model_out,
    _model_outs,
    _np_ravel,
    _np_tree,
    _unflatten_like,
    _value,
)
from implicit_bias.optim._saddles_detect import (  # noqa: F401
    _check_trajectory,
    _state_signal,
    find_plateaus,
    log_speed,
    prominent_peaks,
)
from implicit_bias.optim._saddles_refine import (  # noqa: F401
    _embed,
    _hadamard_lift,
    _phi0,
    _rank_k_point,
    _refine_hadamard,
    _refine_newton,
    _refine_rank,
    _subspaces,
    _top_left,
    refine,
)

SIGNALS = ("auto", "loss", "spectrum", "support")
STRICT, DEGENERATE, MINIMUM, SECOND_ORDER = (
    "strict saddle",
    "degenerate (higher-order) saddle",
    "minimum",
    "second-order critical point",
)


@dataclasses.dataclass(frozen=True)
class Saddle:
    """One plateau of a run and the critical point it sits at.

    k            the plateau's number in the run (0, 1, …)
    t_start, t_end, t_mid  the plateau's extent and representative snapshot (the run's clock)
    loss         L at the representative snapshot
    loss_saddle  L(θ*) at the refined point
    params_mid   the snapshot's parameters; ``params`` θ*; ``estimate`` model(θ*)
    rank_or_support  rank of model(θ*) (matrices) or its number of nonzeros (vectors)
    support      the signed support ("+3 −7") for vectors, "" for matrices
    criticality  ‖∇L(θ*)‖₂;  distance  ‖θ* − θ_mid‖₂
    index, n_zero, lambda_min, lambda_max, tol  the Hessian certificate (module docstring)
    index_exact  False when Lanczos found only negative eigenvalues (index is a lower bound)
    eigenvalues  the smallest eigenvalues (up to 12)
    kind         "strict saddle (index k)", "degenerate (higher-order) saddle", "minimum", …
    escape_cos, escape_unstable, escape_ref  the run's departure vs the Hessian ("eigvec") or the
                 descent curve ("curve"); NaN at the run's last plateau
    final        the plateau reaches the end of the run
    matched_jump, path_distance, t_pred, match  against a LimitPath (NaN/None without one)
    """

    k: int
    t_start: float
    t_end: float
    t_mid: float
    loss: float
    loss_saddle: float
    params_mid: object
    params: object
    estimate: np.ndarray
    rank_or_support: int
    support: str
    criticality: float
    distance: float
    index: int
    n_zero: int
    lambda_min: float
    lambda_max: float
    tol: float
    index_exact: bool
    eigenvalues: np.ndarray
    kind: str
    escape_cos: float
    escape_unstable: float
    escape_ref: str
    final: bool
    matched_jump: float = float("nan")
    path_distance: float = float("nan")
    t_pred: tuple = (float("nan"), float("nan"))
    match: bool | None = None


COLUMNS = (
    "k", "t_start", "t_end", "loss", "rank_or_support", "index", "lambda_min", "n_zero", "kind",
    "criticality", "escape_cos", "matched_jump",
)  # fmt: skip
EXTRA = (
    "t_mid", "loss_saddle", "support", "distance", "escape_unstable", "escape_ref", "final",
    "path_distance", "t_pred_start", "t_pred_end", "match",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Saddles:
    """The plateaus of one run (``saddles`` in time order), what was set aside, and the signal.

    rejected  plateaus whose refined critical point does not have the plateau's loss (dicts with
              t_start, t_end, loss, loss_refined, reason)
    missed    jumps j of the LimitPath whose point no plateau matched (empty without a path)
    t, loss, speed  the run's snapshots and the log-time speed of each interval (for ``plot``)
    """

    saddles: tuple
    rejected: tuple
    missed: tuple
    signal: str
    t: np.ndarray
    loss: np.ndarray
    speed: np.ndarray
    settings: dict = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.saddles)

    def __iter__(self):
        return iter(self.saddles)

    def __getitem__(self, i) -> Saddle:
        return self.saddles[i]

    def to_frame(self):
        """One pandas row per plateau: the columns of ``COLUMNS`` then ``EXTRA``."""
        import pandas as pd

        rows = []
        for s in self.saddles:
            row = {c: getattr(s, c) for c in COLUMNS + EXTRA if hasattr(s, c)}
            row["t_pred_start"], row["t_pred_end"] = s.t_pred
            rows.append(row)
        return pd.DataFrame(rows, columns=list(COLUMNS + EXTRA))

    def plot(self, ax=None):
        """The loss over t (log–log) with each plateau as a shaded span, coloured by kind and
        labelled with its index; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.6))
        t, loss = np.asarray(self.t), np.asarray(self.loss)
        keep = (t > 0) & (loss > 0)
        ax.loglog(t[keep], loss[keep], color="k", lw=1.2)
        colors = {STRICT: "tab:red", DEGENERATE: "tab:orange", MINIMUM: "tab:green"}
        first = t[keep][0] if keep.any() else 1.0
        for s in self.saddles:
            color = colors.get(s.kind.split(" (index")[0], "tab:gray")
            ax.axvspan(max(s.t_start, first), s.t_end, color=color, alpha=0.2, lw=0)
            ax.annotate(str(s.index), (s.t_mid, s.loss), ha="center", va="bottom", fontsize=8)
        ax.set(xlabel="t", ylabel="loss", title="plateaus: index of each (red strict saddle, "
               "orange degenerate, green minimum)")  # fmt: skip
        ax.title.set_fontsize(8)
        return ax


# ---------------------------------------------------------------------------------------------
# 4. the verb


def _support_string(x):
    idx = np.flatnonzero(x)
    return " ".join(("+" if x[i] > 0 else "−") + str(int(i)) for i in idx)


def saddles(
    traj,
    model,
    problem,
    *,
    signal: str = "auto",
    prominence: float = 0.5,
    speed_floor: float = 1e-3,
    loss_floor: float = 1e-10,
    min_snapshots: int = 8,
    dense_max: int = 2000,
    n_eig: int = 20,
    tol: float | None = None,
    path=None,
    alpha: float | None = None,
    match_tol: float = 1e-6,
) -> Saddles:
    """The plateaus of ``traj`` (a run of ``model`` on ``problem``), each refined to its critical
    point, certified by the Hessian's index, its escape direction measured, and matched to
    ``path`` (a ``LimitPath``; ``"auto"`` asks ``theory.oracles.limit_path``) at initial scale
    ``alpha`` (default ``model.alpha``). Module docstring for every step and threshold."""
    if signal not in SIGNALS:
        raise ConfigError(f"unknown signal {signal!r}; choose one of {', '.join(SIGNALS)}")
    _check_trajectory(traj, model, problem, min_snapshots)
    t_all = np.asarray(traj.t, dtype=np.float64)
    loss_all = np.asarray(traj.loss, dtype=np.float64)
    obs = _np_tree(traj.observed)
    pos = np.flatnonzero(t_all > 0)
    t, loss = t_all[pos], loss_all[pos]
    X_all = np.asarray(_model_outs(model, jax.tree.map(lambda x: x[pos], obs)), dtype=np.float64)
    if X_all.ndim == 3:
        scale = float(np.max(np.linalg.svd(X_all, compute_uv=False)[:, 0]))
    else:
        scale = float(np.max(np.abs(X_all)))
    which = "loss"
    z = None
    if signal != "loss":
        state = signal
        if signal == "auto":
            state = {2: "support", 3: "spectrum"}.get(X_all.ndim)
        if state is not None:
            z = _state_signal(model, X_all, state)
            z = z.reshape(z.shape[0], -1)
            which = "auto" if signal == "auto" else "state"
    s = log_speed(t, loss, z, loss_floor=loss_floor, speed_floor=speed_floor, which=which)
    found = find_plateaus(s, prominence=prominence)

    if isinstance(path, str):
        if path != "auto":
            raise ConfigError(f"path must be a LimitPath, 'auto' or None, got {path!r}")
        from implicit_bias.theory.oracles import limit_path

        try:
            path = limit_path(problem, model)
        except ConfigError:
            path = None
    if path is not None:
        alpha = getattr(model, "alpha", None) if alpha is None else alpha
        if alpha is None:
            raise ConfigError("matching to a limit path needs alpha (the initial scale)")
        tau = path.time_scale(float(alpha))

    L_floor = loss_floor * float(np.max(loss_all))
    records, rejected = [], []
    last = len(t) - 1
    for i0, i1, _floor in found:
        a, b = i0, i1 + 1  # snapshots (in the t > 0 numbering) spanned by intervals i0..i1
        reaches_end = b == last
        if reaches_end:
            mid = last
        else:
            u = np.log(t[a : b + 1])
            mid = a + int(np.argmin(np.abs(u - 0.5 * (u[0] + u[-1]))))
        j_mid = int(pos[mid])
        params_mid = _np_tree(jax.tree.map(lambda x: x[j_mid], obs))
        star = refine(model, problem, params_mid, scale=scale, dense_max=dense_max)
        L_star = float(_value(model, problem, star))
        L_hi, L_lo = float(loss[a]), float(loss[b])
        width = abs(L_hi - L_lo)
        # the critical point's loss must lie in the plateau's loss range widened by its own width
        # (the run passes a saddle at O(α^N) from it, and a last plateau may still be converging)
        ok = L_lo - width - L_floor <= L_star <= L_hi + width + L_floor
        t_start = 0.0 if int(pos[a]) == int(pos[0]) and t_all[0] == 0 else float(t[a])
        if not ok:
            rejected.append(dict(t_start=t_start, t_end=float(t[b]), loss=float(loss[mid]),
                                 loss_refined=L_star,
                                 reason="the nearest critical point has another loss: the "
                                 "run is not at a critical point here"))  # fmt: skip
            continue
        X_star = np.asarray(_model_out(model, star), dtype=np.float64)
        if records and np.linalg.norm(X_star - records[-1]["X"]) <= 1e-8 * max(
            1.0, float(np.linalg.norm(X_star))
        ):  # the same critical point as the previous plateau: one visit
            records[-1].update(b=b, final=reaches_end)
            continue
        records.append(dict(a=a, b=b, mid=mid, params_mid=params_mid, star=star, X=X_star,
                            L_star=L_star, final=reaches_end, t_start=t_start))  # fmt: skip

    out = []
    matched = set()
    L_ref = float(np.max(loss_all))
    for k, r in enumerate(records):
        star, X_star = r["star"], r["X"]
        cert = certify(model, problem, star, dense_max=dense_max, n_eig=n_eig, tol=tol)
        crit = float(np.linalg.norm(np.asarray(_flat_grad(model, problem, star))))
        curve = None
        if cert.index > 0:
            kind = f"{STRICT} (index {cert.index})"
        else:
            curve = _descent_curve(model, problem, star) if cert.n_zero else None
            if curve is None:
                known = cert.n_zero == 0 or _factor_kind(model) or _is_hadamard(model, problem)
                kind = MINIMUM if known else SECOND_ORDER
            else:
                kind = (
                    DEGENERATE if _curve_descends(model, problem, star, curve, L_ref) else MINIMUM
                )
        # escape: the run's departure from the plateau's middle to its end
        esc_cos = esc_unst = float("nan")
        ref = ""
        b_esc = r["b"] if r["b"] != r["mid"] else min(r["b"] + 1, last)
        if not r["final"] and b_esc != r["mid"]:
            p_end = _np_tree(jax.tree.map(lambda x, j=int(pos[b_esc]): x[j], obs))
            delta = _flat(p_end) - _flat(r["params_mid"])
            nd = float(np.linalg.norm(delta))
            if nd > 0 and cert.index > 0:
                lam0 = cert.values[0]
                top = np.abs(cert.values - lam0) <= max(cert.tol, 1e-6 * abs(lam0))
                esc_cos = float(np.linalg.norm(cert.vectors[:, top].T @ delta) / nd)
                neg = cert.values < -cert.tol
                esc_unst = float(np.linalg.norm(cert.vectors[:, neg].T @ delta) / nd)
                ref = "eigvec"
            elif nd > 0 and kind == DEGENERATE:
                dflat = _flat(curve[0])
                esc_cos = float(abs(dflat @ delta) / (np.linalg.norm(dflat) * nd))
                ref = "curve"
        if X_star.ndim == 1:
            rank = int(np.count_nonzero(X_star))
            support = _support_string(X_star)
        else:
            sv = np.linalg.svd(X_star, compute_uv=False)
            rank = int(np.sum(sv > max(X_star.shape) * EPS * max(sv.max(initial=0.0), 1e-300)))
            support = ""
        kw = {}
        if path is not None:
            pts = np.asarray(path.points, dtype=np.float64)
            dist = np.array([np.linalg.norm(P - X_star) for P in pts])
            j = int(np.argmin(dist))
            times = np.asarray(path.times, dtype=np.float64) * tau
            window = (float(times[j]), float(times[j + 1]) if j + 1 < len(times) else np.inf)
            point_ok = dist[j] <= match_tol * max(1.0, float(np.linalg.norm(pts[j])))
            t_mid = float(t[r["mid"]])
            ok = bool(point_ok and window[0] <= t_mid <= window[1])
            if point_ok:
                matched.add(j)
            kw = dict(matched_jump=float(j) if point_ok else float("nan"),
                      path_distance=float(dist[j]), t_pred=window, match=ok)  # fmt: skip
        out.append(
            Saddle(
                k=k,
                t_start=r["t_start"],
                t_end=float(t[r["b"]]),
                t_mid=float(t[r["mid"]]),
                loss=float(loss[r["mid"]]),
                loss_saddle=r["L_star"],
                params_mid=r["params_mid"],
                params=star,
                estimate=X_star,
                rank_or_support=rank,
                support=support,
                criticality=crit,
                distance=float(np.linalg.norm(_flat(star) - _flat(r["params_mid"]))),
                index=cert.index,
                n_zero=cert.n_zero,
                lambda_min=float(cert.values[0]) if cert.values.size else float("nan"),
                lambda_max=cert.lambda_max,
                tol=cert.tol,
                index_exact=cert.exact,
                eigenvalues=np.asarray(cert.values[:12]),
                kind=kind,
                escape_cos=esc_cos,
                escape_unstable=esc_unst,
                escape_ref=ref,
                final=bool(r["final"]),
                **kw,
            )
        )
    missed = ()
    if path is not None:
        missed = tuple(j for j in range(len(path.times)) if j not in matched)
    settings = dict(prominence=prominence, speed_floor=speed_floor, loss_floor=loss_floor,
                    dense_max=dense_max, n_eig=n_eig, match_tol=match_tol)  # fmt: skip
    return Saddles(saddles=tuple(out), rejected=tuple(rejected), missed=missed, signal=signal,
                   t=t_all, loss=loss_all, speed=s, settings=settings)  # fmt: skip


__all__ = ["Saddle", "Saddles", "certify", "find_plateaus", "log_speed", "refine", "saddles"]
