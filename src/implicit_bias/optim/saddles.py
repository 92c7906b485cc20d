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
     gradient and Hessian), keeping the k whose product is nearest to the snapshot's. This subspace
     is invariant under the gradient (a factor's gradient lies in the span of its neighbours), so
     the restricted minimizer is a critical point of the full objective;
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
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from implicit_bias.errors import ConfigError
from implicit_bias.optim.objective import end_to_end_gradient, objective

SIGNALS = ("auto", "loss", "spectrum", "support")
EPS = float(np.finfo(np.float64).eps)
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
# jitted derivatives of the parameter loss (cached per model/problem structure and shapes)


@jax.jit
def _value(model, problem, params):
    return objective(model, problem, params)


@jax.jit
def _model_out(model, params):
    return model(params)


@jax.jit
def _model_outs(model, params):
    return jax.vmap(model)(params)


@jax.jit
def _e2e_gradient(problem, X):
    return end_to_end_gradient(problem, X)


@jax.jit
def _flat_grad(model, problem, params):
    flat, unravel = ravel_pytree(params)
    return jax.grad(lambda x: objective(model, problem, unravel(x)))(flat)


@jax.jit
def _flat_derivs(model, problem, params):
    """(L, ∇L, ∇²L) in the flattened parameters (dense Hessian: small models only)."""
    flat, unravel = ravel_pytree(params)

    def f(x):
        return objective(model, problem, unravel(x))

    return f(flat), jax.grad(f)(flat), jax.hessian(f)(flat)


@jax.jit
def _flat_hvp(model, problem, params, v):
    flat, unravel = ravel_pytree(params)
    grad = jax.grad(lambda x: objective(model, problem, unravel(x)))
    return jax.jvp(grad, (flat,), (v,))[1]


def _np_tree(tree):
    return jax.tree.map(lambda x: np.asarray(x, dtype=np.float64), tree)


def _np_ravel(tree):
    """(flat NumPy vector, unravel) of a pytree of arrays, without JAX (no compilation per shape)."""
    leaves, treedef = jax.tree.flatten(tree)
    shapes = [np.shape(leaf) for leaf in leaves]
    sizes = [int(np.prod(sh)) for sh in shapes]
    flat = np.concatenate([np.ravel(np.asarray(leaf, dtype=np.float64)) for leaf in leaves])

    def unravel(x):
        parts = np.split(np.asarray(x, dtype=np.float64), np.cumsum(sizes)[:-1])
        return jax.tree.unflatten(treedef, [q.reshape(sh) for q, sh in zip(parts, shapes)])

    return flat, unravel


def _flat(tree) -> np.ndarray:
    return _np_ravel(tree)[0]


def _unflatten_like(tree, flat):
    return _np_ravel(tree)[1](flat)


# ---------------------------------------------------------------------------------------------
# 1. plateaus


def _check_trajectory(traj, model, problem, min_snapshots):
    if np.ndim(traj.t) != 1:
        raise ConfigError(
            "saddles() analyses one run, got a batched trajectory (t has shape "
            f"{np.shape(traj.t)}): use traj.member(i).saddles(model, problem)"
        )
    final = traj.final
    obs = traj.observed
    t = np.asarray(traj.t, dtype=np.float64)
    same = jax.tree.structure(obs) == jax.tree.structure(final) and all(
        np.shape(o)[1:] == np.shape(f) and np.shape(o)[0] == t.shape[0]
        for o, f in zip(jax.tree.leaves(obs), jax.tree.leaves(final))
    )
    if not same:
        raise ConfigError(
            "saddles() needs the parameters at every snapshot, but this trajectory's observed "
            "values are not the parameters (it was recorded with an observe= other than the "
            "identity): rerun fit without observe= (or with observe=implicit_bias.optim.identity)"
        )
    n_pos = int(np.sum(t > 0))
    if n_pos < min_snapshots:
        raise ConfigError(
            f"saddles() needs at least {min_snapshots} snapshots at t > 0 to see plateaus in "
            f"log t, got {n_pos}: rerun with more n_saves (and spacing='log' for a small start)"
        )
    loss = np.asarray(traj.loss, dtype=np.float64)
    if not np.all(np.isfinite(loss)):
        raise ConfigError("the trajectory has non-finite losses: use the part before divergence")
    # the observed values must reproduce the recorded loss: otherwise they are not these params
    # (a scaled observer) or the model/problem differ from the run's
    for j in sorted({int(t.shape[0] // 2), t.shape[0] - 1}):
        p = jax.tree.map(lambda x, j=j: np.asarray(x[j]), obs)
        L = float(_value(model, problem, p))
        if not abs(L - loss[j]) <= 1e-6 * max(abs(loss[j]), 1e-12 * loss.max(), 1e-300):
            raise ConfigError(
                f"snapshot {j}: L(observed) = {L:.10g} but the recorded loss is {loss[j]:.10g}: "
                "the observed values are not this run's parameters for this model and problem "
                "(an observe= other than the identity, or another model/problem)"
            )


def _state_signal(model, X, signal):
    """The per-snapshot state vector z: the model outputs X (one per snapshot) or their singular
    values."""
    if signal == "spectrum":
        if X.ndim != 3:
            raise ConfigError(
                f"signal='spectrum' needs a matrix-valued model, {type(model).__name__} gives "
                f"shape {X.shape[1:]}: use signal='support' or 'loss'"
            )
        return np.linalg.svd(X, compute_uv=False)
    if X.ndim != 2:
        raise ConfigError(
            f"signal='support' needs a vector-valued model, {type(model).__name__} gives shape "
            f"{X.shape[1:]}: use signal='spectrum' or 'loss'"
        )
    return X


def log_speed(t, loss, z=None, *, loss_floor=1e-10, speed_floor=1e-3, which="loss"):
    """log₁₀ of the log-time speed of each interval between snapshots at t > 0 (module docstring).

    ``which``: "loss", "state" (needs ``z``, one row per snapshot) or "auto" (the mean of both logs).
    """
    u = np.log(t)
    du = np.diff(u)
    out = []
    if which in ("loss", "auto"):
        F = loss_floor * max(float(np.max(loss)), 1e-300)
        out.append(np.abs(np.diff(np.log(loss + F))) / du)
    if which in ("state", "auto"):
        scale = max(float(np.max(np.linalg.norm(z, axis=1))), 1e-300)
        out.append(np.linalg.norm(np.diff(z, axis=0), axis=1) / (du * scale))
    logs = [np.log10(np.maximum(s, speed_floor)) for s in out]
    return np.mean(logs, axis=0)


def prominent_peaks(s, prominence: float) -> list[int]:
    """Indices of the local maxima of ``s`` (a flat top counts once, at its middle; the ends count
    when they are above their neighbour) whose prominence is at least ``prominence``: the height
    above the higher of the two lowest points between the peak and a strictly higher sample (or
    the end of the signal, below which nothing counts) on each side. SciPy's
    ``signal.find_peaks(prominence=…)`` on the signal padded with −∞, without importing
    ``scipy.signal`` (seconds on a busy machine)."""
    n = s.shape[0]
    ext = np.concatenate([[-np.inf], s, [-np.inf]])
    candidates, i = [], 1
    while i <= n:
        if ext[i] > ext[i - 1]:
            j = i
            while j + 1 <= n and ext[j + 1] == ext[i]:
                j += 1
            if ext[j + 1] < ext[i]:
                candidates.append((i + j) // 2 - 1)
            i = j + 1
        else:
            i += 1
    peaks = []
    for p in candidates:
        h = s[p]
        bases = []
        for step in (-1, 1):
            q, low = p, h
            while 0 <= q + step < n and s[q + step] <= h:
                q += step
                low = min(low, s[q])
            bases.append(-np.inf if not 0 <= q + step < n else low)
        if h - max(bases) >= prominence:
            peaks.append(int(p))
    return peaks


def find_plateaus(s, prominence: float = 0.5):
    """Plateaus of a log-speed signal ``s`` (one value per interval): a list of (i0, i1, floor)
    interval ranges (inclusive), from the valleys between the prominent peaks of ``s``."""
    M = s.shape[0]
    peaks = prominent_peaks(s, prominence)
    bounds = [-1] + peaks + [M]
    found = []
    for left, right in zip(bounds[:-1], bounds[1:]):
        lo, hi = left + 1, right - 1
        if hi < lo:
            continue
        seg = s[lo : hi + 1]
        j = lo + int(np.argmin(seg))
        floor = float(s[j])
        tops = [s[p] for p in (left, right) if 0 <= p < M]
        top = min(tops) if tops else float(np.max(s))
        level = floor + 0.5 * (top - floor) if top > floor else floor
        i0 = j
        while i0 > lo and s[i0 - 1] <= level:
            i0 -= 1
        i1 = j
        while i1 < hi and s[i1 + 1] <= level:
            i1 += 1
        found.append((i0, i1, floor))
    return found


# ---------------------------------------------------------------------------------------------
# 2. refinement


def _is_hadamard(model, problem):
    from implicit_bias.models.hadamard import Hadamard
    from implicit_bias.problems.linear import Linear

    return isinstance(model, Hadamard) and isinstance(problem, Linear) and model.depth >= 2


def _hadamard_lift(model, x):
    """Params with model(params) = x: every factor |x|^{1/N} on the support (u/v by sign)."""
    root = np.abs(x) ** (1.0 / model.depth)
    shape = model.param_shape()
    if model.signed:
        parts = np.stack([np.where(x > 0, root, 0.0), np.where(x < 0, root, 0.0)])[:, None, :]
        return np.broadcast_to(parts, shape).copy()
    return np.broadcast_to(np.where(x > 0, root, 0.0), shape).copy()


def _refine_hadamard(model, problem, x_mid, scale=None):
    """(params, x*) by sign-constrained least squares on nested supports (module docstring); a
    larger support must be nearer by more than 1e-9·``scale`` (the run's largest |x_i|)."""
    from scipy.optimize import lsq_linear

    A = np.asarray(problem.A, dtype=np.float64)
    y = np.asarray(problem.y, dtype=np.float64)
    m, n = A.shape
    order = np.argsort(-np.abs(x_mid), kind="stable")
    k_max = min(int(np.sum(np.abs(x_mid) > 0)), m, n)
    best_x, best_d = np.zeros(n), float(np.linalg.norm(x_mid))
    tie = 1e-9 * max(float(scale or 0.0), float(np.max(np.abs(x_mid), initial=0.0)), 1e-300)
    rises = 0
    for k in range(1, k_max + 1):
        S = order[:k]
        AS = A[:, S]
        sv = np.linalg.svd(AS, compute_uv=False)
        if sv[-1] <= 1e-10 * sv[0]:  # dependent columns: the minimizer is not unique
            break
        signs = np.sign(x_mid[S]) if model.signed else np.ones(k)
        lb = np.where(signs > 0, 0.0, -np.inf)
        ub = np.where(signs > 0, np.inf, 0.0)
        res = lsq_linear(AS, y, bounds=(lb, ub), method="bvls", tol=1e-14,
                         max_iter=100 * k + 100)  # fmt: skip
        x = np.zeros(n)
        x[S] = np.where(signs > 0, np.maximum(res.x, 0.0), np.minimum(res.x, 0.0))
        d = float(np.linalg.norm(x - x_mid))
        if d < best_d - tie:
            best_x, best_d, rises = x, d, 0
        else:
            rises += 1
            if rises >= 3:
                break
    return _hadamard_lift(model, best_x), best_x


def _factor_kind(model):
    from implicit_bias.models.deep_matrix import DeepMatrix
    from implicit_bias.models.symmetric import SymmetricFactor

    if isinstance(model, DeepMatrix) and model.depth >= 2:
        return "deep"
    if isinstance(model, SymmetricFactor):
        return "symmetric"
    return None


def _top_left(M, k):
    U, _, _ = np.linalg.svd(M, full_matrices=True)
    return U[:, :k]


def _subspaces(kind, params, k):
    """The orthonormal bases Q of the rank-k subspace through the snapshot (module docstring)."""
    if kind == "symmetric":
        U = np.asarray(params)
        _, _, Vt = np.linalg.svd(U, full_matrices=True)
        return (Vt[:k].T,)
    Ws = [np.asarray(W) for W in params]
    Qs, prefix = [], Ws[0]
    for j in range(len(Ws) - 1):
        if j > 0:
            prefix = Ws[j] @ prefix
        Qs.append(_top_left(prefix, k))
    return tuple(Qs)


def _phi0(kind, params, Qs):
    if kind == "symmetric":
        return (np.asarray(params) @ Qs[0],)
    Ws = [np.asarray(W) for W in params]
    N = len(Ws)
    phis = [Qs[0].T @ Ws[0]]
    for j in range(1, N - 1):
        phis.append(Qs[j].T @ Ws[j] @ Qs[j - 1])
    phis.append(Ws[-1] @ Qs[-1])
    return tuple(phis)


def _embed(kind, phis, Qs):
    if kind == "symmetric":
        return phis[0] @ Qs[0].T
    N = len(phis)
    Ws = [Qs[0] @ phis[0]]
    for j in range(1, N - 1):
        Ws.append(Qs[j] @ phis[j] @ Qs[j - 1].T)
    Ws.append(phis[-1] @ Qs[-1].T)
    return tuple(Ws)


def _rank_k_point(kind, model, problem, params_mid, k, dense_max=2000):
    """The rank-k critical point through the snapshot's leading subspaces. The embedding θ = Eφ
    is linear, so the restricted gradient and Hessian are Eᵀ∇L and EᵀHE (no compilation per k);
    ``trust-exact`` on φ, then Newton steps with the pseudo-inverse (the GL(k) gauge of the
    factors makes the restricted Hessian singular, which slows trust-region steps to a linear rate
    near the end)."""
    from scipy.optimize import minimize

    if k == 0:
        return jax.tree.map(np.zeros_like, _np_tree(params_mid))
    Qs = _subspaces(kind, params_mid, k)
    x0, unravel = _np_ravel(_phi0(kind, params_mid, Qs))
    E = np.stack([_flat(_embed(kind, unravel(e), Qs)) for e in np.eye(x0.size)], axis=1)
    _, unravel_theta = _np_ravel(params_mid)
    memo = {}

    def vgh(x):
        key = x.tobytes()
        if key not in memo:
            memo.clear()
            theta = unravel_theta(E @ x)
            if E.shape[0] <= dense_max:
                v, g, H = (np.asarray(a) for a in _flat_derivs(model, problem, theta))
                H = E.T @ H @ E
            else:
                v, g = _value(model, problem, theta), np.asarray(_flat_grad(model, problem, theta))
                H = E.T @ np.stack([np.asarray(_flat_hvp(model, problem, theta, jnp.asarray(c)))
                                    for c in E.T], axis=1)  # fmt: skip
            memo[key] = (float(v), E.T @ g, 0.5 * (H + H.T))
        return memo[key]

    res = minimize(lambda x: vgh(x)[:2], x0, jac=True, hess=lambda x: vgh(x)[2],
                   method="trust-exact", options=dict(gtol=1e-9, maxiter=200))  # fmt: skip
    x = np.asarray(res.x)
    for _ in range(8):
        _, g, H = vgh(x)
        w, V = np.linalg.eigh(H)
        keep = np.abs(w) > 1e-9 * max(float(np.max(np.abs(w))), 1e-300)
        step = -V[:, keep] @ ((V[:, keep].T @ g) / w[keep])
        x_new = x + step
        if np.linalg.norm(vgh(x_new)[1]) >= np.linalg.norm(g):
            break
        x = x_new
    return unravel_theta(E @ x)


def _refine_rank(kind, model, problem, params_mid, scale=None, dense_max=2000):
    """The rank-k critical point nearest (in the product) to the snapshot.

    The rank with the largest gap log(σ_k/σ_{k+1}) of the snapshot's product (σ_0 = ``scale``, the
    run's largest product norm; singular values below √ε·scale count as 0) is tried first; a rank k
    whose truncation error ‖σ_{k+1:}‖ already exceeds the best distance is skipped (Eckart–Young: no
    rank-k point is nearer), the search upward stops two ranks above the guess, and a higher rank
    must be nearer by more than 1e-9·scale (else the lower rank is kept). A rank-k result whose
    k-th singular value is below √ε·scale is dropped: such a component changes the (quadratic)
    loss by less than its round-off, and at a rank-deficient minimum the restricted optimizer
    stops on that flat direction instead of removing it (a GD run on sensing, measured: σ₃ = 5e-9
    kept, and the minimum certified as a saddle of index 4)."""
    X_mid = np.asarray(_model_out(model, params_mid))
    k_max = min(np.shape(params_mid)) if kind == "symmetric" else min(model.widths)
    sv = np.linalg.svd(X_mid, compute_uv=False)[:k_max]
    top = max(float(scale or 0.0), float(sv[0]) if sv.size else 0.0, 1e-300)
    logs = np.log(np.maximum(np.concatenate([[top], sv, [0.0]]), np.sqrt(EPS) * top))
    tie = 1e-9 * top
    guess = int(np.argmax(logs[:-1] - logs[1:]))
    tail = np.sqrt(np.cumsum((sv**2)[::-1])[::-1])  # ‖σ_{k+1:}‖ for k = 0, 1, …
    lower = np.concatenate([tail, [0.0]])
    best, best_d = None, np.inf
    for k in [guess] + [k for k in range(k_max + 1) if k != guess]:
        if lower[k] >= best_d - tie:
            continue
        if k > guess + 2:
            break
        p = _rank_k_point(kind, model, problem, params_mid, k, dense_max)
        X = np.asarray(_model_out(model, p))
        if k and np.linalg.svd(X, compute_uv=False)[k - 1] <= np.sqrt(EPS) * top:
            continue
        d = float(np.linalg.norm(X - X_mid))
        if d < best_d - tie or (d <= best_d + tie and k < best[0]):
            best, best_d = (k, p), d
    return best[1]


def _refine_newton(model, problem, params_mid, max_iter=50):
    """Newton steps θ ← θ − H⁺∇L by MINRES on HVPs: the nearby critical point of any index."""
    from scipy.sparse.linalg import LinearOperator, minres

    p = _np_tree(params_mid)
    for _ in range(max_iter):
        g = np.asarray(_flat_grad(model, problem, p))
        if np.linalg.norm(g) <= 1e-13 * max(1.0, np.linalg.norm(_flat(p))):
            break
        n = g.size
        op = LinearOperator((n, n), dtype=np.float64, matvec=lambda v, p=p: np.asarray(
            _flat_hvp(model, problem, p, jnp.asarray(v))))  # fmt: skip
        step, _ = minres(op, -g, rtol=1e-12, maxiter=10 * n)
        p = _unflatten_like(p, _flat(p) + step)
    return p


def refine(model, problem, params_mid, *, scale=None, dense_max=2000):
    """The critical point near ``params_mid`` (module docstring, step 2): params θ*. ``scale``:
    the run's largest product norm (guides the rank search of the factorized models)."""
    if _is_hadamard(model, problem):
        x_mid = np.asarray(_model_out(model, params_mid), dtype=np.float64)
        return _refine_hadamard(model, problem, x_mid, scale)[0]
    kind = _factor_kind(model)
    if kind is not None:
        return _refine_rank(kind, model, problem, params_mid, scale, dense_max)
    return _refine_newton(model, problem, params_mid)


# ---------------------------------------------------------------------------------------------
# 3. certificate


@dataclasses.dataclass(frozen=True)
class Certificate:
    """The Hessian at a point: eigenvalues (all, or the n_eig smallest), their eigenvectors, the
    largest eigenvalue, the tolerance, index, zeros."""

    values: np.ndarray
    vectors: np.ndarray
    lambda_max: float
    tol: float
    index: int
    n_zero: int
    exact: bool


def certify(model, problem, params, *, dense_max=2000, n_eig=20, tol=None) -> Certificate:
    """The Hessian certificate of ``params`` (module docstring, step 3)."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    g = np.asarray(_flat_grad(model, problem, params))
    p = g.size
    if p <= dense_max:
        H = np.asarray(_flat_derivs(model, problem, params)[2], dtype=np.float64)
        H = 0.5 * (H + H.T)
        values, vectors = np.linalg.eigh(H)
        lam_max = float(np.max(np.abs(values))) if p else 0.0
        exact = True
    else:
        op = LinearOperator((p, p), dtype=np.float64, matvec=lambda v: np.asarray(
            _flat_hvp(model, problem, params, jnp.asarray(v))))  # fmt: skip
        k = min(n_eig, p - 1)
        values, vectors = eigsh(op, k=k, which="SA", tol=1e-10)
        order = np.argsort(values)
        values, vectors = values[order], vectors[:, order]
        top = eigsh(op, k=1, which="LA", tol=1e-10, return_eigenvectors=False)
        lam_max = float(max(abs(top[0]), abs(values[0])))
        exact = False
    if tol is None:
        tol = 100 * p * EPS * lam_max + 10 * float(np.linalg.norm(g))
    index = int(np.sum(values < -tol))
    n_zero = int(np.sum(np.abs(values) <= tol))
    if not exact and index < values.size:
        exact = True  # a non-negative eigenvalue was reached: every negative one was found
    return Certificate(values=values, vectors=vectors, lambda_max=lam_max, tol=float(tol),
                       index=index, n_zero=n_zero, exact=exact)  # fmt: skip


def _descent_curve(model, problem, params):
    """(direction d, order N) with L(θ + s d) − L(θ) = s^N⟨∇_X L, D⟩ + O(s^{2N}) and
    ⟨∇_X L, D⟩ < 0, or None when the model has no such curve here (module docstring)."""
    from implicit_bias.models.hadamard import Hadamard

    X = _model_out(model, params)
    G = np.asarray(_e2e_gradient(problem, X), dtype=np.float64)
    Xn = np.asarray(X, dtype=np.float64)
    if isinstance(model, Hadamard):
        zero = Xn == 0
        allowed = zero & ((G != 0) if model.signed else (G < 0))
        if not allowed.any():
            return None
        i = int(np.argmax(np.where(allowed, np.abs(G), -1.0)))
        d = np.zeros(model.param_shape())
        if model.signed:
            d[0 if G[i] < 0 else 1, :, i] = 1.0
        else:
            d[:, i] = 1.0
        return d / np.linalg.norm(d), model.depth
    kind = _factor_kind(model)
    if kind == "symmetric":
        U = np.asarray(params)
        S = -(G + G.T) / 2
        w, V = np.linalg.eigh(S)
        if w[-1] <= 0:
            return None
        _, sv, Vt = np.linalg.svd(U, full_matrices=True)
        if U.shape[1] > sv.size or sv[-1] <= 1e-12 * max(sv[0], 1e-300):
            z = Vt[-1]
        else:
            return None
        d = np.outer(V[:, -1], z)
        return d, 2
    if kind == "deep":
        Ws = [np.asarray(W) for W in params]
        a_, s_, bt = np.linalg.svd(-G)
        if s_[0] <= 0:
            return None
        a, b = a_[:, 0], bt[0]
        scale = max(max(np.linalg.norm(W, 2) for W in Ws), 1e-300)
        qs = [b]
        for j in range(len(Ws) - 1):  # q_j ∈ null(W_{j+1}) ∩ null(W_jᵀ), hidden layer j+1
            M = np.vstack([Ws[j + 1], Ws[j].T])
            _, sv, Vt = np.linalg.svd(M, full_matrices=True)
            if sv.size == Vt.shape[0] and sv[-1] > 1e-10 * scale:
                return None
            qs.append(Vt[-1])
        qs.append(a)
        d = tuple(np.outer(qs[j + 1], qs[j]) for j in range(len(Ws)))
        return d, len(Ws)
    return None


def _curve_descends(model, problem, params, curve, L_ref):
    """Whether L falls below L(θ) − 1e3·ε·L_ref somewhere on θ + s·d, s^N ∈ [1e-10, 1]·scale."""
    d, N = curve
    L0 = float(_value(model, problem, params))
    X = np.asarray(_model_out(model, params))
    scale = max(float(np.linalg.norm(X)), 1.0)
    best = 0.0
    for t in np.geomspace(1e-10, 1.0, 41) * scale:
        s = t ** (1.0 / N)
        p = jax.tree.map(lambda a, b: a + s * b, _np_tree(params), d)
        best = min(best, float(_value(model, problem, p)) - L0)
    return best < -1e3 * EPS * max(L_ref, abs(L0), 1e-300)


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
