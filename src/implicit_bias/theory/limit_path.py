"""The saddle-to-saddle limit of depth-2 diagonal networks as α → 0 (Pesme & Flammarion 2023).

Pesme & Flammarion, "Saddle-to-saddle dynamics in diagonal linear networks", NeurIPS 2023
(arXiv:2304.00488), Algorithm 1: the flow from a vanishing initialization, in the accelerated time
t̃ = t/τ(α), converges to a piecewise constant process that jumps from saddle β̃_{k−1} to β̃_k at times
t̃_k, and ends at the minimum-ℓ1 interpolator (least squares of minimum ℓ1 norm when m > n).

    t̃ ← 0, s ← 0 ∈ Rⁿ, β ← 0
    while ∇L(β) ≠ 0:
        Δ ← inf{δ > 0 : s_i − δ∇L(β)_i = ±1 for some i}          (the next coordinate to saturate)
        t̃ ← t̃ + Δ,  s ← s − Δ∇L(β)
        β ← argmin L(β) s.t. β_i ≥ 0 if s_i = 1, β_i ≤ 0 if s_i = −1, β_i = 0 if |s_i| < 1

Loss: L(β) = ½‖Aβ − y‖², the repository's ``Linear`` loss. The paper writes L(β) = (1/2n)Σ(y_i −
⟨x_i, β⟩)² over n samples; that is ours with A = X/√n, and a rescaling of L by a constant rescales t̃
by its inverse: the saddles are the same, the times are for the L written here.

Coordinates can deactivate: the constrained minimizer may return β_i = 0 for a coordinate with
s_i = ±1 (its constraint binds); at the next step ∇L_i then points inward and s_i leaves ±1. Here a
coordinate sitting at ±1 takes part in Δ only through the opposite bound (it moves inward), so this
needs no special case. ``events`` records, per jump, the coordinate that saturates and the
coordinates whose β̃ returned to 0.

Time scale (derived from the mirror formula of ``implicit_bias.optim.mirror``, checked against
simulation in tests/test_limit_path.py):

* ``"u2-v2"``: x̃ = u^{⊙2} − v^{⊙2}, u(0) = v(0) = α1 (``Hadamard(depth=2, signed=True)``). Then
  u² = α²e^{−4Aᵀν}, v² = α²e^{4Aᵀν} with ν = ∫₀ᵗ r, so x̃ = −2α² sinh(4Aᵀν) and Aᵀν = ∫₀ᵗ ∇L. With
  t = t̃τ and s(t̃) = −∫₀^{t̃} ∇L(β̃) (the algorithm's s), Aᵀν = −τs, so |x̃_i| ≈ α² e^{4τ|s_i|}: x̃_i
  leaves the O(α²) scale for O(1) when 4τ|s_i| = log(1/α²), i.e. |s_i| = 1 exactly when
  τ = log(1/α)/2 (c = 2 in t ≈ t̃·log(1/α)/c). Corrections are O(1/log(1/α)) in t̃: a coordinate
  crosses a threshold θ at |s_i| = 1 + log θ/(2 log(1/α)), so a threshold must satisfy
  log(1/θ) = o(log(1/α)) (e.g. half the saddle's value); θ = α crosses at |s_i| = 1/2, a fixed bias.
* ``"uv"``: β = u ⊙ v, u(0) = √2α1, v(0) = 0 (the paper's). With a = u + v, b = u − v: ȧ = −a∇L,
  ḃ = b∇L, so β = (a² − b²)/4 = −α² sinh(2∫∇L): saturation at 2τ = 2 log(1/α), τ = log(1/α) (c = 1).
"""

import dataclasses

import numpy as np
from scipy.optimize import lsq_linear

from implicit_bias.errors import ConfigError, SolverError

PARAMETRIZATIONS = {"u2-v2": 2.0, "uv": 1.0}  # c in τ(α) = log(1/α)/c


@dataclasses.dataclass(frozen=True)
class LimitPath:
    """The limit process: ``points`` (k+1, n) the saddles β̃_0 = 0, …, β̃_k (the last the minimum-ℓ1
    interpolator), ``times`` (k+1,) the jump times t̃_j (t̃_0 = 0), ``s`` (k+1, n) the dual variable at
    each jump, ``events`` one dict per jump j ≥ 1: ``{"jump", "time", "coordinate", "sign",
    "zeroed"}`` (the coordinate whose |s| reached 1 and its sign; the coordinates whose β̃ returned to
    0 at this jump), ``parametrization`` ("u2-v2" or "uv") and ``loss`` (k+1,) L(β̃_j)."""

    points: np.ndarray
    times: np.ndarray
    s: np.ndarray
    events: tuple
    parametrization: str
    loss: np.ndarray

    def time_scale(self, alpha: float) -> float:
        """τ(α) with t ≈ t̃·τ(α): log(1/α)/2 for u^{⊙2} − v^{⊙2} from α1, log(1/α) for u ⊙ v."""
        if not 0 < alpha < 1:
            raise ConfigError(f"the time scale needs 0 < alpha < 1, got {alpha}")
        return float(np.log(1.0 / alpha) / PARAMETRIZATIONS[self.parametrization])

    def flow_times(self, alpha: float) -> np.ndarray:
        """The predicted jump times of the flow at initialization scale α: t̃_j·τ(α)."""
        return self.times * self.time_scale(alpha)

    def saddle_at(self, t_tilde) -> np.ndarray:
        """β̃(t̃): the saddle the limit process sits at (piecewise constant, right-continuous)."""
        k = np.searchsorted(self.times, np.asarray(t_tilde), side="right") - 1
        return self.points[np.clip(k, 0, len(self.times) - 1)]

    @property
    def certificate_slack(self) -> float:
        """1 − max |s_i| over the coordinates off the final support (s at the last jump): for the
        u^{⊙2} − v^{⊙2} flow the off-support entries of x̃_∞ are ≈ α^{2(1−|s_i|)}."""
        off = self.points[-1] == 0
        return float(1.0 - np.max(np.abs(self.s[-1][off]))) if off.any() else 1.0

    def to_frame(self):
        """One row per saddle: jump, t̃, the event (±i saturates, j zeroed), support, ‖β̃‖₁, L(β̃)."""
        import pandas as pd

        rows = []
        for k in range(len(self.times)):
            ev = self.events[k - 1] if k else None
            supp = np.flatnonzero(self.points[k])
            act = "" if ev is None else ("+" if ev["sign"] > 0 else "−") + str(ev["coordinate"])
            rows.append(
                dict(
                    jump=k,
                    t_tilde=float(self.times[k]),
                    activated=act,
                    zeroed="" if ev is None else ",".join(str(j) for j in ev["zeroed"]),
                    support=" ".join(str(int(j)) for j in supp),
                    l1=float(np.abs(self.points[k]).sum()),
                    loss=float(self.loss[k]),
                )
            )
        return pd.DataFrame(rows)


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
        raise SolverError(f"jump {jump}: the sign-constrained least squares (BVLS) did not converge")
    b = np.where(signs > 0, np.maximum(res.x, 0.0), np.minimum(res.x, 0.0))
    return b


def limit_path_diagonal(
    A,
    y,
    *,
    parametrization: str = "u2-v2",
    tol: float = 1e-9,
    tie_tol: float = 1e-7,
    max_jumps: int | None = None,
) -> LimitPath:
    """Algorithm 1 of Pesme & Flammarion (2023) for L(β) = ½‖Aβ − y‖² (module docstring).

    Stops when ‖∇L(β)‖_∞ ≤ tol·‖Aᵀy‖_∞. Two coordinates reaching |s| = 1 within ``tie_tol``
    (relative) of each other is a tie: the limit is then not given by the algorithm (the order of
    activation is decided by the O(1/log(1/α)) corrections) and ``ConfigError`` names them; so does
    a rank-deficient set of saturated columns (non-unique constrained minimizer).
    """
    if parametrization not in PARAMETRIZATIONS:
        raise ConfigError(
            f"unknown parametrization {parametrization!r}; choose one of {sorted(PARAMETRIZATIONS)}"
        )
    A, y = _arrays(A, y)
    m, n = A.shape
    g_scale = float(np.max(np.abs(A.T @ y)))
    if g_scale == 0:
        raise ConfigError("Aᵀy = 0: the flow from a vanishing initialization never leaves 0")
    max_jumps = 10 * (n + m) if max_jumps is None else max_jumps
    s = np.zeros(n)
    beta = np.zeros(n)
    t = 0.0
    points, times, svals, events = [beta.copy()], [0.0], [s.copy()], []
    losses = [0.5 * float(y @ y)]
    for jump in range(1, max_jumps + 1):
        g = A.T @ (A @ beta - y)
        if np.max(np.abs(g)) <= tol * g_scale:
            break
        moving = np.abs(g) > tol * g_scale
        target = -np.sign(g)  # s moves along −∇L, towards this bound
        with np.errstate(divide="ignore", invalid="ignore"):
            delta = np.where(moving, (target - s) / (-g), np.inf)
        delta = np.where(delta > 1e-14, delta, np.inf)  # already at the bound it moves to
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
        sat = np.abs(s) >= 1.0 - 1e-12
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
        events.append(dict(jump=jump, time=t, coordinate=i, sign=int(target[i]), zeroed=zeroed))
    else:
        raise SolverError(f"Algorithm 1 did not reach ∇L = 0 within {max_jumps} jumps")
    return LimitPath(
        points=np.array(points),
        times=np.array(times),
        s=np.array(svals),
        events=tuple(events),
        parametrization=parametrization,
        loss=np.array(losses),
    )
