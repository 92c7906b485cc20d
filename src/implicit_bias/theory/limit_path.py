"""The α → 0 limit path of a factorized flow: the saddles visited, the jump times, what changes.

``LimitPath`` is one type for every family (vectors of diagonal networks, matrices of low-rank
factorizations); ``theory.oracles.limit_path(problem, model)`` picks the oracle that covers a
(problem, model) pair. Each oracle gives the path in a *rescaled* time t̃ with t ≈ t̃·τ(α), ``time_scale(alpha)`` = τ(α):

    depth 2:  τ(α) = log(1/α)/c         (c = 2 for u^{⊙2} − v^{⊙2}, w^{⊙2}, UUᵀ; c = 1 for u ⊙ v)
    depth N ≥ 3: τ(α) = α^{2−N}/c       (c = N(N−2) for u^{⊙N} − v^{⊙N} and w^{⊙N})

Diagonal networks (this module): Pesme & Flammarion, "Saddle-to-saddle dynamics in diagonal linear
networks", NeurIPS 2023 (arXiv:2304.00488), Algorithm 1: the flow from a vanishing initialization,
in the accelerated time t̃ = t/τ(α), converges to a piecewise constant process that jumps from saddle
β̃_{k−1} to β̃_k at times t̃_k, and ends at the minimum-ℓ1 interpolator (least squares of minimum ℓ1
norm when m > n).

    t̃ ← 0, s ← 0 ∈ Rⁿ, β ← 0
    while ∇L(β) ≠ 0:
        Δ ← inf{δ > 0 : s_i − δ∇L(β)_i = ±1 for some i}          (the next coordinate to saturate)
        t̃ ← t̃ + Δ,  s ← s − Δ∇L(β)
        β ← argmin L(β) s.t. β_i ≥ 0 if s_i = 1, β_i ≤ 0 if s_i = −1, β_i = 0 if |s_i| < 1

Loss: L(β) = ½‖Aβ − y‖², the repository's ``Linear`` loss. The paper writes L(β) = (1/2n)Σ(y_i −
⟨x_i, β⟩)² over n samples; that is ours with A = X/√n, and a rescaling of L by a constant rescales t̃
by its inverse: the saddles are the same, the times are for the L written here. For the positive
model w^{⊙N} only s_i = +1 saturates and every constraint is β_i ≥ 0 (its last point is the
minimum-ℓ1 non-negative interpolator).

Coordinates can deactivate: the constrained minimizer may return β_i = 0 for a coordinate with
s_i = ±1 (its constraint binds); at the next step ∇L_i then points inward and s_i leaves ±1. Here a
coordinate sitting at ±1 takes part in Δ only through the opposite bound (it moves inward), so this
needs no special case. ``events`` records, per jump, the coordinate that saturates and the
coordinates whose β̃ returned to 0.

Time scale (derived from the mirror formulas of ``implicit_bias.optim.mirror``, checked against
simulation in tests/test_limit_path.py):

* ``"signed"`` depth 2 (alias ``"u2-v2"``): x̃ = u^{⊙2} − v^{⊙2}, u(0) = v(0) = α1. Then
  u² = α²e^{−4Aᵀν}, v² = α²e^{4Aᵀν} with ν = ∫₀ᵗ r, so x̃ = −2α² sinh(4Aᵀν) and Aᵀν = ∫₀ᵗ ∇L. With
  t = t̃τ and s(t̃) = −∫₀^{t̃} ∇L(β̃) (the algorithm's s), Aᵀν = −τs, so |x̃_i| ≈ α² e^{4τ|s_i|}: x̃_i
  leaves the O(α²) scale for O(1) when 4τ|s_i| = log(1/α²), i.e. |s_i| = 1 exactly when
  τ = log(1/α)/2 (c = 2). Corrections are O(1/log(1/α)) in t̃: a coordinate crosses a threshold θ
  at |s_i| = 1 + log θ/(2 log(1/α)), so a threshold must satisfy log(1/θ) = o(log(1/α)) (e.g. half
  the saddle's value); θ = α crosses at |s_i| = 1/2, a fixed bias. ``"positive"`` (w^{⊙2} from α1):
  w² = α²e^{4τs}, the same τ.
* ``"uv"``: β = u ⊙ v, u(0) = √2α1, v(0) = 0 (the paper's). With a = u + v, b = u − v: ȧ = −a∇L,
  ḃ = b∇L, so β = (a² − b²)/4 = −α² sinh(2∫∇L): saturation at 2τ = 2 log(1/α), τ = log(1/α) (c = 1).
* depth N ≥ 3, ``"signed"`` or ``"positive"``: u^{2−N}(t) = α^{2−N} + N(N−2)(Aᵀν)_i and v^{2−N} =
  α^{2−N} − N(N−2)(Aᵀν)_i (mirror.py). With t = τt̃, Aᵀν = −τs, and τ = α^{2−N}/(N(N−2)):
  u_i^{2−N} = α^{2−N}(1 − s_i), v_i^{2−N} = α^{2−N}(1 + s_i). A coordinate stays at x̃_i = O(α^N)
  while |s_i| < 1 and must have |s_i| → 1 to be O(1): the same algorithm, on the clock α^{2−N}
  instead of log(1/α). A coordinate crosses θ at 1 − |s_i| = (α/θ^{1/N})^{N−2}, so the corrections
  in t̃ are polynomial, O(α^{N−2}), not logarithmic (measured in tests/test_limit_path.py).
"""

import dataclasses

import numpy as np
from scipy.optimize import lsq_linear

from implicit_bias.errors import ConfigError, SolverError

# parametrization -> (signed, the model it names); "u2-v2" is the old name of "signed" at depth 2
PARAMETRIZATIONS = {
    "signed": "u^{⊙N} − v^{⊙N} from α1",
    "u2-v2": "u^{⊙2} − v^{⊙2} from α1",
    "positive": "w^{⊙N} from α1",
    "uv": "u ⊙ v from (√2α1, 0)",
}


def clock_constant(parametrization: str, depth: int) -> float:
    """c in τ(α) = log(1/α)/c (depth 2) or α^{2−N}/c (depth N ≥ 3); module docstring."""
    if parametrization == "uv":
        return 1.0
    return 2.0 if depth == 2 else float(depth * (depth - 2))


@dataclasses.dataclass(frozen=True)
class LimitPath:
    """The limit process of a flow from a vanishing initialization, in the rescaled time t̃.

    points      (k+1, *shape): the saddles visited, from 0 (points[0]) to the limit (points[-1])
    times       (k+1,): the jump times t̃_j, t̃_0 = 0 (the limit sits at points[j] on [t̃_j, t̃_{j+1}))
    events      one dict per jump j ≥ 1, always with ``jump``, ``time`` and ``change`` (a short
                text: "+3" coordinate 3 activates positive, "−7" negative, "0:5" coordinate 5
                returns to 0, "rank 1→2"); the diagonal oracle adds ``coordinate``, ``sign``,
                ``zeroed``; low-rank oracles add ``rank``
    loss        (k+1,): L at each saddle
    family      "diagonal" or "low-rank"
    parametrization  which model's flow (PARAMETRIZATIONS for diagonal; e.g. "UU^T", "deep matrix")
    depth       N (the clock: log(1/α) at depth 2, α^{2−N} at depth N ≥ 3)
    c           the clock constant: τ(α) = log(1/α)/c or α^{2−N}/c
    s           (k+1, n) the dual variable s = −∫∇L dt̃ at each jump (diagonal), else None
    notes       what the oracle assumed or approximated (e.g. times exact only for commuting data)
    """

    points: np.ndarray
    times: np.ndarray
    events: tuple
    loss: np.ndarray
    family: str = "diagonal"
    parametrization: str = "signed"
    depth: int = 2
    c: float = 2.0
    s: np.ndarray | None = None
    notes: str = ""

    def time_scale(self, alpha: float) -> float:
        """τ(α) with t ≈ t̃·τ(α): log(1/α)/c at depth 2, α^{2−N}/c at depth N ≥ 3."""
        if not 0 < alpha < 1:
            raise ConfigError(f"the time scale needs 0 < alpha < 1, got {alpha}")
        if self.depth == 2:
            return float(np.log(1.0 / alpha) / self.c)
        return float(alpha ** (2.0 - self.depth) / self.c)

    def flow_times(self, alpha: float) -> np.ndarray:
        """The predicted jump times of the flow at initialization scale α: t̃_j·τ(α)."""
        return self.times * self.time_scale(alpha)

    def saddle_at(self, t_tilde) -> np.ndarray:
        """β̃(t̃): the saddle the limit process sits at (piecewise constant, right-continuous)."""
        k = np.searchsorted(self.times, np.asarray(t_tilde), side="right") - 1
        return self.points[np.clip(k, 0, len(self.times) - 1)]

    def compare(self, t_tilde, X):
        """A simulated path against this one, jump by jump (diagonal family): ``X`` (T, n) the flow's
        x̃ at the rescaled times ``t_tilde`` (T,) = t/τ(α), increasing. One row per event:

        * ``activation`` of jump k: the first t̃ (after the coordinate's previous event) where
          sign·x̃_i crosses |β̃_k,i|/2, log-linearly interpolated between samples;
        * ``deactivation`` at jump k: where |x̃_j| falls below |β̃_{k−1},j|/2;
        * ``plateau`` k: max_i |x̃_i − β̃_k,i| at the sample nearest the middle of [t̃_k, t̃_{k+1}]
          (after the last jump: at 1.5 t̃_K);

        with columns kind, jump, coordinate, predicted (t̃_k, or 0 for a plateau), simulated and
        error (|simulated − predicted|; NaN where the crossing is not in the samples). Half the saddle's
        value is the level because a level θ is crossed at |s_i| = 1 + log θ/(2 log 1/α) (module
        docstring): a fixed θ = O(1) gives an O(1/log(1/α)) bias, a level like α a fixed one.
        """
        import pandas as pd

        if self.family != "diagonal":
            raise ConfigError("compare is defined for the diagonal limit path (vectors x̃(t))")
        t_tilde = np.asarray(t_tilde, dtype=float)
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape != (t_tilde.size, self.points.shape[1]):
            raise ConfigError(
                f"X must be (len(t_tilde), n) = ({t_tilde.size}, {self.points.shape[1]}), got {X.shape}"
            )
        rows, last = [], {}
        for k, ev in enumerate(self.events, 1):
            for j in ev["zeroed"]:
                level = abs(self.points[k - 1][j]) / 2
                t, last[j] = _crossing(t_tilde, np.abs(X[:, j]), level, last.get(j, 0), up=False)
                rows.append(dict(kind="deactivation", jump=k, coordinate=j,
                                 predicted=self.times[k], simulated=t))  # fmt: skip
            i = ev["coordinate"]
            level = abs(self.points[k][i]) / 2
            t, last[i] = _crossing(t_tilde, ev["sign"] * X[:, i], level, last.get(i, 0), up=True)
            rows.append(dict(kind="activation", jump=k, coordinate=i, predicted=self.times[k],
                             simulated=t))  # fmt: skip
        mids = list((self.times[:-1] + self.times[1:]) / 2) + [1.5 * self.times[-1]]
        for k, tm in enumerate(mids):
            err = np.abs(X[np.argmin(np.abs(t_tilde - tm))] - self.points[k]).max()
            rows.append(dict(kind="plateau", jump=k, coordinate=-1, predicted=0.0, simulated=err))
        frame = pd.DataFrame(rows)
        frame["error"] = np.abs(frame["simulated"] - frame["predicted"])
        return frame

    @property
    def certificate_slack(self) -> float:
        """Diagonal only: 1 − max |s_i| over the coordinates off the final support (s at the last
        jump): for the u^{⊙2} − v^{⊙2} flow the off-support entries of x̃_∞ are ≈ α^{2(1−|s_i|)}."""
        if self.s is None:
            raise ConfigError("certificate_slack is defined for the diagonal limit path only")
        off = self.points[-1] == 0
        return float(1.0 - np.max(np.abs(self.s[-1][off]))) if off.any() else 1.0

    def to_frame(self):
        """One row per saddle: jump, t̃, what changed, L; for vectors the support and ‖β̃‖₁ (and the
        diagonal columns ``activated``/``zeroed``), for matrices the rank and the nuclear norm."""
        import pandas as pd

        rows = []
        for k in range(len(self.times)):
            ev = self.events[k - 1] if k else {}
            point = np.asarray(self.points[k])
            row = dict(jump=k, t_tilde=float(self.times[k]))
            if self.family == "diagonal":
                act = ""
                if "coordinate" in ev:
                    act = ("+" if ev["sign"] > 0 else "−") + str(ev["coordinate"])
                row.update(
                    activated=act,
                    zeroed=",".join(str(j) for j in ev.get("zeroed", ())),
                    support=" ".join(str(int(j)) for j in np.flatnonzero(point)),
                    l1=float(np.abs(point).sum()),
                )
            else:
                sv = np.linalg.svd(point, compute_uv=False) if point.ndim == 2 else np.abs(point)
                tol = max(point.shape) * np.finfo(float).eps * (sv.max() if sv.size else 0.0)
                row.update(change=ev.get("change", ""), rank=int(np.sum(sv > max(tol, 1e-12))),
                           nuclear=float(sv.sum()))  # fmt: skip
            row["loss"] = float(self.loss[k])
            rows.append(row)
        return pd.DataFrame(rows)


def _crossing(grid, v, theta, start, up):
    """(the first t̃ at index ≥ start where v crosses theta upward or downward, log-interpolated;
    the index after it); NaN and len(v) when it does not cross."""
    hit = np.flatnonzero((v[start:] >= theta) if up else (v[start:] <= theta))
    if hit.size == 0:
        return np.nan, len(v)
    j = start + int(hit[0])
    if j == 0:
        return float(grid[0]), 0
    a0, a1 = np.log(max(abs(v[j - 1]), 1e-300)), np.log(max(abs(v[j]), 1e-300))
    f = (np.log(theta) - a0) / (a1 - a0) if a1 != a0 else 1.0
    return float(grid[j - 1] + f * (grid[j] - grid[j - 1])), j


def _arrays(A, y):
    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if A.ndim != 2 or y.ndim != 1 or A.shape[0] != y.shape[0]:
        raise ConfigError(f"A (m×n) and y (m) do not match: shapes {A.shape} and {y.shape}")
    if not (np.isfinite(A).all() and np.isfinite(y).all()):
        raise ConfigError("A and y must be finite")
    return A, y


def _constrained_lsq(A, y, S, signs, jump):
    """argmin ½‖A_S b − y‖² with sign(b) bounded by ``signs`` (SciPy's BVLS); ConfigError if A_S is
    rank deficient (the minimizer is then not unique)."""
    if S.size == 0:
        return np.zeros(0)
    AS = A[:, S]
    sv = np.linalg.svd(AS, compute_uv=False)
    if S.size > A.shape[0] or sv[-1] <= 1e-10 * sv[0]:
        raise ConfigError(
            f"jump {jump}: the saturated coordinates {S.tolist()} have linearly dependent columns "
            f"(σ_min/σ_max = {sv[-1] / sv[0]:.2e}): the constrained minimizer is not unique"
        )
    lb = np.where(signs > 0, 0.0, -np.inf)
    ub = np.where(signs > 0, np.inf, 0.0)
    res = lsq_linear(AS, y, bounds=(lb, ub), method="bvls", tol=1e-14, max_iter=100 * S.size + 100)
    if res.status < 1:
        raise SolverError(
            f"jump {jump}: the sign-constrained least squares (BVLS) did not converge"
        )
    b = np.where(signs > 0, np.maximum(res.x, 0.0), np.minimum(res.x, 0.0))
    # a coordinate BVLS leaves at round-off from its bound (|b| ~ 1e-15) is at the bound: zeroed
    b[np.abs(b) <= 1e-12 * max(1.0, float(np.max(np.abs(b))))] = 0.0
    return b


def limit_path_diagonal(
    A,
    y,
    *,
    parametrization: str = "signed",
    depth: int = 2,
    tol: float = 1e-9,
    tie_tol: float = 1e-7,
    max_jumps: int | None = None,
) -> LimitPath:
    """Algorithm 1 of Pesme & Flammarion (2023) for L(β) = ½‖Aβ − y‖² (module docstring).

    ``parametrization``: "signed" (u^{⊙N} − v^{⊙N}; "u2-v2" is its depth-2 name), "positive"
    (w^{⊙N}: only s_i = +1 saturates, β ≥ 0) or "uv" (u ⊙ v, depth 2). ``depth`` N sets the clock
    (log(1/α) at N = 2, α^{2−N} at N ≥ 3); the saddles do not depend on it.

    Stops when ‖∇L(β)‖_∞ ≤ tol·‖Aᵀy‖_∞ (for "positive": the positive part of −∇L). Two coordinates
    reaching |s| = 1 within ``tie_tol`` (relative) of each other is a tie: the limit is then not
    given by the algorithm (the order of activation is decided by the corrections) and
    ``ConfigError`` names them; so does a rank-deficient set of saturated columns (non-unique
    constrained minimizer).
    """
    if parametrization not in PARAMETRIZATIONS:
        raise ConfigError(
            f"unknown parametrization {parametrization!r}; choose one of {sorted(PARAMETRIZATIONS)}"
        )
    if int(depth) != depth or depth < 2:
        raise ConfigError(
            f"the limit path needs depth N >= 2 (depth 1 is a linear model), got {depth}"
        )
    if parametrization in ("uv", "u2-v2") and depth != 2:
        raise ConfigError(f"parametrization {parametrization!r} is depth 2; got depth {depth}")
    depth = int(depth)
    positive = parametrization == "positive"
    A, y = _arrays(A, y)
    m, n = A.shape
    g_scale = float(np.max(np.abs(A.T @ y)))
    if g_scale == 0 or (positive and np.max(A.T @ y) <= 0):
        raise ConfigError(
            "Aᵀy = 0"
            + (" or Aᵀy ≤ 0 (positive model)" if positive else "")
            + ": the flow from a vanishing initialization never leaves 0"
        )
    max_jumps = 10 * (n + m) if max_jumps is None else max_jumps
    s = np.zeros(n)
    beta = np.zeros(n)
    t = 0.0
    points, times, svals, events = [beta.copy()], [0.0], [s.copy()], []
    losses = [0.5 * float(y @ y)]
    for jump in range(1, max_jumps + 1):
        g = A.T @ (A @ beta - y)
        # the positive model is at a limit point once no coordinate can grow: −∇L ≤ 0 off β > 0
        stat = np.where(beta > 0, np.abs(g), np.maximum(-g, 0.0)) if positive else np.abs(g)
        if np.max(stat) <= tol * g_scale:
            break
        moving = np.abs(g) > tol * g_scale
        target = -np.sign(g)  # s moves along −∇L, towards this bound
        if positive:  # s_i may saturate only at +1; s_i ≤ 1 moving down never does
            target = np.where(target > 0, 1.0, -np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            delta = np.where(moving, (target - s) / (-g), np.inf)
        delta = np.where((delta > 1e-14) & np.isfinite(delta), delta, np.inf)
        order = np.argsort(delta)
        i, d = int(order[0]), float(delta[order[0]])
        if not np.isfinite(d):
            raise SolverError(f"jump {jump}: ∇L ≠ 0 but no coordinate can saturate")
        ties = [int(j) for j in order[1:] if delta[j] <= d * (1 + tie_tol)]
        if ties:
            raise ConfigError(
                f"jump {jump}: coordinates {[i] + ties} reach |s| = 1 at the same time t̃ = "
                f"{t + d:.10g} (within a relative {tie_tol:g}): a tie, the limit path is not "
                "determined by Algorithm 1"
            )
        t += d
        s = s - d * g
        s[i] = target[i]
        sat = (s >= 1.0 - 1e-12) if positive else (np.abs(s) >= 1.0 - 1e-12)
        s = np.where(sat, np.sign(s), s)
        S = np.flatnonzero(sat)
        b = _constrained_lsq(A, y, S, s[S], jump)
        new = np.zeros(n)
        new[S] = b
        zeroed = tuple(int(j) for j in np.flatnonzero((beta != 0) & (new == 0)))
        beta = new
        points.append(beta.copy())
        times.append(t)
        svals.append(s.copy())
        losses.append(0.5 * float(np.sum((A @ beta - y) ** 2)))
        sign = int(target[i])
        change = ("+" if sign > 0 else "−") + str(i) + "".join(f" 0:{j}" for j in zeroed)
        events.append(dict(jump=jump, time=t, coordinate=i, sign=sign, zeroed=zeroed,
                           change=change))  # fmt: skip
    else:
        raise SolverError(f"Algorithm 1 did not reach ∇L = 0 within {max_jumps} jumps")
    return LimitPath(
        points=np.array(points),
        times=np.array(times),
        events=tuple(events),
        loss=np.array(losses),
        family="diagonal",
        parametrization="signed" if parametrization == "u2-v2" else parametrization,
        depth=depth,
        c=clock_constant(parametrization, depth),
        s=np.array(svals),
        notes=f"Pesme & Flammarion (2023), Algorithm 1; {PARAMETRIZATIONS[parametrization]}, "
        f"depth {depth}",
    )
