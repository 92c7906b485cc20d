"""The exact gradient flow of the Hadamard models in mirror (dual) coordinates: an m-dimensional ODE.

For x̃ = w^{⊙N} (``Hadamard(depth=N, signed=False)``, identical factors) and L̃ = ½‖Ax̃ − y‖², the
parameter flow is ẇ = −N w^{N−1} ⊙ Aᵀr with r = Ax̃ − y. Let ν(t) = ∫₀ᵗ r ds ∈ Rᵐ. Then

    N = 2:  d/dt log w² = 2ẇ/w = −4Aᵀr                 ⇒  w²(t) = w(0)² ⊙ exp(−4Aᵀν)
    N ≥ 3:  d/dt w^{2−N} = (2−N) w^{1−N} ẇ = N(N−2)Aᵀr  ⇒  w^{2−N}(t) = w(0)^{2−N} + N(N−2)Aᵀν

and x̃ = w^N = (w^{2−N})^{−N/(N−2)}. The signed model x̃ = u^{⊙N} − v^{⊙N} has u̇ = −N u^{N−1} ⊙ Aᵀr,
v̇ = +N v^{N−1} ⊙ Aᵀr: the same formulas with the sign of the Aᵀν term flipped for v. (Derived by
differentiating; tests/test_mirror.py checks them against the parameter flow.) Writing every part
through its *base* B (B = log w² for N = 2, B = w^{2−N} for N ≥ 3),

    B_p(ν) = B_p(0) + σ_p c Aᵀν,   c = 4 (N = 2) or N(N−2) (N ≥ 3),
    σ = (−1 for w or u, +1 for v) when N = 2 and (+1, −1) when N ≥ 3,

the whole flow is the m-dimensional ODE ν̇ = A x̃(ν) − y, ν(0) = 0: a gradient flow of the convex
potential Ψ(ν) = yᵀν + Σ_i F_i((Aᵀν)_i) with F_i' = −x̃_i, whose Jacobian J = A diag(∂x̃/∂(Aᵀν)) Aᵀ is
symmetric negative semidefinite (∂x̃_i/∂(Aᵀν)_i = −4x̃_i for N = 2, −N² w_i^{2N−2} for N ≥ 3, summed
over u and v), so the matrix-free ROS34PW2 method of ``implicit_bias.optim.stiff`` (CG stage solves) applies.
α enters only through B(0) = 2 log α (N = 2) or α^{2−N} (N ≥ 3).

Numerics (why this module has its own step loop around ``stiff``'s ROS34PW2 tableau):

* State. The solver carries the bases B (P×n: one row per part) and ν; a step advances B by the
  Rosenbrock stages of Ḃ = σcAᵀr(B) and ν by the same stages of ν̇ = r. In exact arithmetic this is
  the ν-ODE's own step (Rosenbrock methods commute with the affine map ν ↦ B(0) + σcAᵀν: the B-stage
  is σcAᵀ times the ν-stage), so B − B(0) stays in range(Aᵀ) up to the inexactness of the CG stage
  solves (the two tracks agree to the solver tolerance: mirror_to_params(ν_final) matches
  final_params to 4e-6 at rtol 1e-6, N = 2). Carrying B is what makes it well scaled at any α:
  for N ≥ 3, B(0) = α^{2−N} (1e30 at α = 1e-30, N = 3) while on the
  support B falls to O(1), so B(0) + cAᵀν recomputed from ν would cancel two 1e30 numbers; and over
  a plateau of length ~α^{2−N} ν drifts by ~α^{2−N}, so even the increment cAᵀδν of one step has an
  absolute round-off ~1e-16·|δν| ≫ 1 on an active coordinate (measured: a solver stepping ν alone
  fails at N = 3, α = 1e-30). Each B_i keeps its own relative precision instead. For N = 2
  (B = log w², from 2 log α ≈ −138 at α = 1e-30) both forms are accurate.
  ``mirror_to_params(ν)`` recomputes B from ν: exact formulas, inaccurate for N ≥ 3 at tiny α;
  ``MirrorFlowResult.final_params`` comes from the carried B.
* Linear algebra. The stage systems (I + hγMD)k = rhs (J_B = −MD, M = cσσᵀ⊗AᵀA ⪰ 0, D = |∂part/∂B|)
  are solved by CG in the symmetric form z = D^{1/2}k; a coordinate held by its own column
  (hγc‖A_i‖²D_i ≥ 1) takes k_i = z_i/D_i^{1/2}, the others k_i = rhs_i − hγ(MD^{1/2}z)_i, so the
  round-off of z is divided, not multiplied, by the stiffness that damps it. The operator's nonzero
  spectrum is that of the ν-ODE's I − hγJ_ν (m eigenvalues), so CG needs the iterations of the
  m-dimensional problem; each product costs one A and one Aᵀ, like a Hessian–vector product of the
  parameter flow, and MD^{1/2}z and A Σσ D^{1/2} z (the ν-stage) are accumulated along the CG
  iterates, so a stage costs its CG iterations and nothing more.
* Error control. A step's error is measured as the parameter flow's, in the relative change of
  every factor (w, or u and v): err = rms_{p,i} |κ_{p,i} e_{p,i}|·w/(atol + rtol·w), κ = ∂log w/∂B
  (1/2 for N = 2, 1/((N−2)B) for N ≥ 3), e the embedded error estimate of B. With the default
  atol = 0 this is a relative tolerance on every entry however small (escape times of sleeping
  coordinates stay accurate); a ν-space norm would be 1e30 times too loose for N ≥ 3 at α = 1e-30.
  CG stops at lin_tol in these units (weights ω/D^{1/2} on the stiff coordinates,
  √m·rms(ω‖A_i‖)·hγcD^{1/2}‖A_i‖ on the others).
* Domain. For N ≥ 3 a base must stay > 0 (w = B^{−1/(N−2)}). While x̃_i is negligible B_i falls
  linearly (the escape) and the Rosenbrock stages, which see J ≈ 0 there, would overshoot 0 in one
  step; a step may take at most 75% of any base that is drifting to 0 and not held by its own column.
  The escape of a coordinate from α^{2−N} to O(1) then takes O(log(1/α)) steps.
* Time. For N ≥ 3 the flow escapes at t ~ α^{2−N} and then moves on an O(1) time scale, finer than
  the spacing of doubles near t (1e14 at 1e30). The ODE is autonomous: the state never uses t, t is
  accumulated (rounded) only to place the snapshots, and a step is never refused for being small
  relative to t (stiff.solve's collapse test h < 1e-14·t is what stops the parameter flow there).
* Blow-up. The exact flow cannot blow up in finite time (a gradient flow: ‖w(T) − w(0)‖ ≤ ∫‖ẇ‖ ≤
  (T·L̃(0))^{1/2}), so a base reaching 0 can only be a numerical failure: the step is rejected and
  shortened (x̃ = inf there); after 40 rejections in a row the run fails and ``mirror_flow`` raises
  ``SolverError`` naming the time (reason "blow-up" if the last rejection was a base ≤ 0).

Where it does not apply: distinct factors (``factors="distinct"`` with unequal initial factors: the
invariant is then w_k² − w_j², not one base per coordinate; with equal factors use ``"identical"``,
time t ↦ Nt), weight normalization (``WeightNormalized``: the magnitude r is a separate
time scale coupling all coordinates), gradient descent and SGD (a discrete step breaks the exact
integral; GD's mirror map is only approximate), losses other than ½‖Ax − y‖² (``Linear``), and depth
N = 1 (linear model: no mirror map needed).

Where it applies it is the path ``fit(model, problem, GradientFlow(solver="rosenbrock" | "auto" |
"mirror"))`` takes (``_mirror_path.py``: the engine's ``Trajectory``; ``reduce=False`` forces the
parameter flow).
"""

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias.errors import ConfigError, SolverError
from implicit_bias.optim import stiff
from implicit_bias.optim.stiff import GAMMA, ORDER, TABLEAU

_A, _G, _B, _BHAT = (TABLEAU[k] for k in ("A", "G", "B", "B_hat"))

OK, FAILED, STOPPED_AT_TOL = stiff.OK, stiff.FAILED, stiff.STOPPED_AT_TOL
REASONS = {0: "", 1: "max_steps spent", 2: "max_evals spent", 3: "step size collapsed",
           4: "blow-up: a base w^{2−N} reached 0 (x̃ overflowed)"}  # fmt: skip
COLLAPSE_REJECTIONS = 40  # consecutive rejected steps (h shrinks ≥ 4× each) before giving up
DOMAIN = 0.75  # a base drifting to 0 may lose at most this fraction of itself per step


def coefficient(depth: int) -> float:
    """c in B(ν) = B(0) + σcAᵀν: 4 for N = 2 (B = log w²), N(N−2) for N ≥ 3 (B = w^{2−N})."""
    return 4.0 if depth == 2 else float(depth * (depth - 2))


def signs(model) -> np.ndarray:
    """σ_p per part (w) or (u, v): the sign of cAᵀν in the base of that part."""
    s = -1.0 if model.depth == 2 else 1.0
    return np.array([s, -s]) if model.signed else np.array([s])


class _Shape(NamedTuple):  # the static part of a Hadamard model (its α lives in B(0))
    depth: int
    signed: bool


def _check(model, problem):
    if not (hasattr(model, "depth") and hasattr(model, "signed") and hasattr(model, "factors")):
        raise ConfigError(
            f"the mirror flow is for Hadamard models (w^{{⊙N}} or u^{{⊙N}} − v^{{⊙N}}), got "
            f"{type(model).__name__} (weight normalization and other models have no such mirror map)"
        )
    if model.factors != "identical":
        raise ConfigError(
            "the mirror flow needs identical factors (factors='identical'): with distinct factors "
            "the conserved quantities are w_k² − w_j², not one base per coordinate"
        )
    if int(model.depth) < 2:
        raise ConfigError(f"the mirror flow needs depth N >= 2, got {model.depth}")
    if not (hasattr(problem, "A") and hasattr(problem, "y")):
        raise ConfigError(
            f"the mirror flow is for the loss ½‖Ax − y‖² (a Linear problem), got "
            f"{type(problem).__name__}"
        )


def _factor(model, params0) -> jax.Array:
    """The (P, n) initial factor per part from params of shape (1, n) or (2, 1, n); checked > 0."""
    p = jnp.asarray(params0, dtype=jnp.float64)
    want = (2, 1, model.n) if model.signed else (1, model.n)
    if p.shape != want:
        raise ConfigError(f"params0 must have shape {want} for this model, got {p.shape}")
    w0 = p[:, 0, :] if model.signed else p
    if not bool(jnp.all(w0 > 0)):
        raise ConfigError("the mirror flow needs a positive initialization (every factor > 0)")
    return w0


def bases0(model, params0) -> jax.Array:
    """B(0) (P, n): log w(0)² for N = 2, w(0)^{2−N} for N ≥ 3 (ConfigError if it overflows)."""
    w0 = _factor(model, params0)
    N = model.depth
    B = 2.0 * jnp.log(w0) if N == 2 else w0 ** (2.0 - N)
    if not bool(jnp.all(jnp.isfinite(B))):
        raise ConfigError(
            f"w(0)^{{2−N}} overflows float64 for N = {N} at min w(0) = {float(jnp.min(w0)):.3g}: "
            "the mirror flow cannot represent this initialization"
        )
    return B


def parts(depth: int, B) -> jax.Array:
    """u^{⊙N}, v^{⊙N} (or w^{⊙N}) from the bases: exp(B), or B^{−N/(N−2)} (inf where B ≤ 0)."""
    if depth == 2:
        return jnp.exp(B)
    q = depth / (depth - 2.0)
    pos = B > 0
    return jnp.where(pos, jnp.where(pos, B, 1.0) ** (-q), jnp.inf)


def x_from_bases(model, B) -> jax.Array:
    """x̃ from the bases (P, n): u^{⊙N} − v^{⊙N}, or w^{⊙N} (P = 1)."""
    P = parts(model.depth, B)
    return P[0] - P[1] if B.shape[0] == 2 else P[0]


def _params_from_bases(model, B) -> jax.Array:
    N = model.depth
    w = jnp.exp(0.5 * B) if N == 2 else jnp.where(B > 0, B, jnp.nan) ** (-1.0 / (N - 2))
    return w[:, None, :] if model.signed else w


def mirror_to_params(model, problem, params0, nu) -> jax.Array:
    """The parameters at dual point ν: w = exp(½B), B = log w(0)² + σ4Aᵀν (N = 2), or
    w = B^{−1/(N−2)}, B = w(0)^{2−N} + σN(N−2)Aᵀν (N ≥ 3); shaped like params0. NaN where a base
    is ≤ 0. For N ≥ 3 at tiny α the cancellation in B loses digits (see the module docstring): use
    ``MirrorFlowResult.final_params`` for the end of a run."""
    _check(model, problem)
    B = bases0(model, params0)
    shift = coefficient(model.depth) * (jnp.asarray(problem.A).T @ jnp.asarray(nu))
    B = B + jnp.asarray(signs(model))[:, None] * shift[None, :]
    return _params_from_bases(model, B)


@dataclasses.dataclass(frozen=True)
class MirrorFlowResult:
    """A mirror-flow run. ``t`` (s+1,) snapshot times with t[0] = 0 (NaN where not reached; the
    entry after the last reached one holds the stopping time when ``loss_tol`` stopped the run
    between snapshots), ``nu`` (s+1, m), ``x_tilde`` (s+1, n), ``params`` (s+1, *param shape) (from
    the carried bases: accurate at any α), ``loss`` (s+1,); ``status`` 0 reached
    the last save time, 2 failed (``reason``), 3 stopped at ``loss_tol``; ``n_evals`` right-hand
    sides + Jacobian–vector products (as ``stiff``'s gradients + HVPs); ``final_params`` and
    ``x_final`` at the stop, from the carried bases (accurate at any α)."""

    t: np.ndarray
    nu: np.ndarray
    x_tilde: np.ndarray
    params: np.ndarray
    loss: np.ndarray
    status: int
    reason: str
    n_evals: int
    n_steps: int
    n_rejected: int
    t_end: float
    nu_final: np.ndarray
    x_final: np.ndarray
    final_params: np.ndarray

    def __iter__(self):  # (t, nu, x_tilde, status, n_evals), as the tuple
        return iter((self.t, self.nu, self.x_tilde, self.status, self.n_evals))


class _S(NamedTuple):
    t: jax.Array
    nu: jax.Array
    B: jax.Array
    h: jax.Array
    i: jax.Array
    nu_buf: jax.Array
    B_buf: jax.Array
    loss_buf: jax.Array
    status: jax.Array
    reason: jax.Array
    n_grad: jax.Array
    n_hvp: jax.Array
    n_acc: jax.Array
    n_rej: jax.Array
    n_rej_row: jax.Array
    blowup: jax.Array


def _rms(x):
    return jnp.sqrt(jnp.mean(x * x))


def _cg(apply, b, x0, aux0, weight, tol, max_iter):
    """Conjugate gradients for W x = b from x0, stopping at rms(weight ⊙ (W x − b)) ≤ tol.

    ``apply(p) -> (Wp, aux(p))`` with aux linear (here (M D^{1/2} p, A Σσ D^{1/2} p)) and W x =
    x + hγ D^{1/2} aux(x)[0]; aux is accumulated along the iterates (aux(x) = aux0 + Σ a_j aux(p_j)),
    so neither the start nor the end costs a product. Returns (x, aux(x), iterations, ok); ok is
    False at a direction of non-positive curvature or when ``max_iter`` is reached (as stiff._cg).
    """
    Wx0, _ = apply(None, x0, aux0)
    r = b - Wx0
    p = r
    rr = jnp.vdot(r, r)

    def small(r):
        return _rms(weight * r) <= tol

    def cond(c):
        x, aux, r, p, rr, it, ok = c
        return ok & ~small(r) & (it < max_iter)

    def body(c):
        x, aux, r, p, rr, it, ok = c
        Wp, auxp = apply(p)
        pWp = jnp.vdot(p, Wp)
        good = pWp > 0
        a = jnp.where(good, rr / jnp.where(good, pWp, 1.0), 0.0)
        x = x + a * p
        aux = jax.tree.map(lambda s, t: s + a * t, aux, auxp)
        r = r - a * Wp
        rr_new = jnp.vdot(r, r)
        p = r + (rr_new / rr) * p
        return x, aux, r, p, rr_new, it + 1, ok & good

    x, aux, r, p, rr, it, ok = jax.lax.while_loop(
        cond, body, (x0, aux0, r, p, rr, jnp.asarray(0), jnp.asarray(True))
    )
    return x, aux, it, ok & small(r)


def _solve(model, problem, B0, ts, rtol, atol, loss_tol, max_evals, max_steps, *, max_cg,
           lin_tol):  # fmt: skip
    A, yv = problem.A, problem.y
    m, n = A.shape
    N = model.depth
    c = coefficient(N)
    sig = jnp.asarray(signs(model))[:, None]  # (P, 1)
    colnorm = jnp.linalg.norm(A, axis=0)  # (n,)
    n_save = ts.shape[0]
    q = 1.0 if N == 2 else N / (N - 2.0)

    def resid(B):
        return A @ x_from_bases(model, B) - yv

    def field(B):
        """(Ḃ, ν̇) = (σcAᵀr, r): the flow of the bases and of the dual variable."""
        r = resid(B)
        return sig * (c * (A.T @ r))[None, :], r

    def loss(B):
        r = resid(B)
        return 0.5 * jnp.dot(r, r)

    def dpart(B):
        """D = |∂part/∂B| (P, n): part for N = 2, (N/(N−2))·part/B for N ≥ 3."""
        return parts(N, B) if N == 2 else q * parts(N, B) / B

    def omega(B):
        """(P, n): error units per unit change of B: κ·w/(atol + rtol·w), w = part^{1/N} the factor
        and κ = |∂log w/∂B| (1/2 for N = 2, 1/((N−2)B) for N ≥ 3): the factors' relative error."""
        kappa = jnp.full_like(B, 0.5) if N == 2 else 1.0 / ((N - 2.0) * jnp.abs(B))
        w = parts(N, B) ** (1.0 / N)
        floor = jnp.where(atol > 0, atol / jnp.maximum(w, 1e-300), 0.0)
        return kappa / (rtol + floor)

    def valid(B):
        ok = jnp.all(jnp.isfinite(parts(N, B))) & jnp.all(jnp.isfinite(B))
        return ok & (jnp.all(B > 0) if N > 2 else True)

    F0, r0 = field(B0)
    rate0 = jnp.max(omega(B0) * jnp.abs(F0)) * rtol  # relative change of w per unit time
    h0 = jnp.minimum(0.5 * rtol ** (1.0 / 3.0) / jnp.maximum(rate0, 1e-300), ts[0])

    def cond(s):
        return s.status < 0

    def body(s):
        target = ts[jnp.minimum(s.i, n_save - 1)]
        h = jnp.minimum(s.h, target - s.t)
        lands = h >= target - s.t
        (FB, Fr), jvp = jax.linearize(field, s.B)
        D = dpart(s.B)
        if N > 2:  # the bases must stay > 0: at most a fraction DOMAIN of each base per step
            room = jnp.where(FB < 0, s.B / jnp.maximum(-FB, 1e-300), jnp.inf)
            # a base held by its own column (relaxation rate λ = c‖A_i‖²D > 1/room) is in a
            # stiff equilibrium, not drifting to 0: the implicit stages handle it
            lam = c * colnorm[None, :] ** 2 * D
            room = jnp.where(room * lam < 1.0, room, jnp.inf)
            h_dom = DOMAIN * jnp.min(room)
            lands = lands & (h <= h_dom)
            h = jnp.minimum(h, h_dom)
        hg = h * GAMMA
        om = omega(s.B)
        Dh = jnp.sqrt(D)
        # the stage systems (I + hγMD) k = rhs (J_B = −MD, M = cσσᵀ ⊗ AᵀA ⪰ 0, D ≥ 0 diagonal) in the
        # symmetric form z = D^{1/2}k: (I + hγ D^{1/2} M D^{1/2}) z = D^{1/2} rhs, by CG. A coordinate
        # held by its own column (hγc‖A_i‖²D_i ≥ 1, "stiff") takes k = z/D^{1/2}; the others
        # k = rhs − hγ M D^{1/2} z (exact in exact arithmetic; each form divides the rounding of z by
        # the factor that damps it). The nonzero spectrum is that of the ν-ODE's I − hγJ_ν (Rᵐ).
        stiffc = hg * c * colnorm[None, :] ** 2 * D >= 1.0
        Dh_safe = jnp.where(stiffc, Dh, 1.0)
        wbar = _rms(jnp.max(om, axis=0) * colnorm) * jnp.sqrt(m)
        wz = jnp.where(stiffc, om / Dh_safe, hg * c * Dh * colnorm[None, :] * wbar)
        wz = jnp.maximum(wz, 1e-300)

        def apply(p, x=None, aux=None):
            """(W p, (M D^{1/2} p, A Σσ D^{1/2} p)); with x, aux given: W x from aux, no product."""
            if p is None:
                return x + hg * Dh * aux[0], aux
            up = A @ jnp.sum(sig * Dh * p, axis=0)
            Mp = sig * (c * (A.T @ up))[None, :]
            return p + hg * Dh * Mp, (Mp, up)

        def solve_stage(rhsB, z0, aux0):
            """k, (z, aux(z)), CG iterations, ok; aux(z)[1] = A Σσ D^{1/2} z = −R k (R = ∂r/∂B),
            so the ν-stage is rhs_ν − hγ aux(z)[1]."""
            z, aux, it, good = _cg(apply, Dh * rhsB, z0, aux0, wz, lin_tol, max_cg)
            k = jnp.where(stiffc, z / Dh_safe, rhsB - hg * aux[0])
            return k, (z, aux), it, good

        # stage 0 here, stages 1–3 in a fori_loop (one compiled CG for them, not three); each
        # stage's CG starts from the previous stage's z (and its products, carried)
        aux_zero = (jnp.zeros_like(s.B), jnp.zeros(m))
        k0, (z0, aux0), it0, ok0 = solve_stage(h * FB, jnp.zeros_like(s.B), aux_zero)
        kB = jnp.zeros((4,) + s.B.shape).at[0].set(k0)
        kn = jnp.zeros((4, m)).at[0].set(h * Fr - hg * aux0[1])
        a_tab, g_tab = jnp.asarray(_A), jnp.asarray(_G)

        def stage(i, carry):
            kB, kn, z, aux, n_hvp, ok = carry
            Bi = s.B + jnp.tensordot(a_tab[i], kB, axes=1)
            Fi, ri = field(Bi)
            JB, Jr = jvp(jnp.tensordot(g_tab[i], kB, axes=1))
            k, (z, aux), it, good = solve_stage(h * (Fi + JB), z, aux)
            kn = kn.at[i].set(h * (ri + Jr) - hg * aux[1])
            return kB.at[i].set(k), kn, z, aux, n_hvp + it + 1, ok & good

        kB, kn, _, _, n_hvp, ok = jax.lax.fori_loop(1, 4, stage, (kB, kn, z0, aux0, it0, ok0))
        b_tab, e_tab = jnp.asarray(_B), jnp.asarray(_B - _BHAT)
        dB = jnp.tensordot(b_tab, kB, axes=1)
        dn = jnp.tensordot(b_tab, kn, axes=1)
        e = jnp.tensordot(e_tab, kB, axes=1)
        B1 = s.B + dB
        good1 = valid(B1) & jnp.all(jnp.isfinite(dn))
        om1 = omega(jnp.where(good1, B1, s.B))
        err = _rms(jnp.maximum(om, om1) * jnp.abs(e))
        ok = ok & good1 & jnp.isfinite(err)
        accept = ok & (err <= 1.0)
        fac = jnp.where(
            ok, jnp.clip(0.9 * jnp.maximum(err, 1e-10) ** (-1.0 / ORDER), 0.2, 6.0), 0.25
        )
        h_next = h * fac
        t1 = jnp.where(accept, jnp.where(lands, target, s.t + h), s.t)
        nu = jnp.where(accept, s.nu + dn, s.nu)
        B = jnp.where(accept, B1, s.B)
        L = loss(B)
        saved = accept & lands
        stop_tol = accept & (L < loss_tol)
        put = saved | stop_tol
        nu_buf = jnp.where(put, s.nu_buf.at[s.i].set(nu), s.nu_buf)
        B_buf = jnp.where(put, s.B_buf.at[s.i].set(B), s.B_buf)
        loss_buf = jnp.where(put, s.loss_buf.at[s.i].set(L), s.loss_buf)
        i_next = s.i + put.astype(s.i.dtype)
        n_grad = s.n_grad + 4
        n_hvp_tot = s.n_hvp + n_hvp
        n_acc = s.n_acc + accept
        n_rej = s.n_rej + (~accept)
        n_rej_row = jnp.where(accept, 0, s.n_rej_row + 1)
        blowup = jnp.where(accept, False, ~good1)
        reason = jnp.where(
            n_acc + n_rej >= max_steps, 1,
            jnp.where(n_grad + n_hvp_tot >= max_evals, 2,
                      jnp.where(n_rej_row >= COLLAPSE_REJECTIONS, jnp.where(blowup, 4, 3), 0)),
        )  # fmt: skip
        status = jnp.where(
            stop_tol,
            STOPPED_AT_TOL,
            jnp.where(saved & (s.i + 1 >= n_save), OK, jnp.where(reason > 0, FAILED, -1)),
        )
        return _S(t1, nu, B, h_next, i_next, nu_buf, B_buf, loss_buf, status,
                  jnp.where(status == FAILED, reason, 0), n_grad, n_hvp_tot, n_acc, n_rej,
                  n_rej_row, blowup)  # fmt: skip

    z = jnp.asarray(0)
    s0 = _S(
        t=jnp.asarray(0.0), nu=jnp.zeros(m), B=B0, h=h0, i=z,
        nu_buf=jnp.full((n_save, m), jnp.nan), B_buf=jnp.full((n_save,) + B0.shape, jnp.nan),
        loss_buf=jnp.full((n_save,), jnp.nan), status=jnp.asarray(-1), reason=z,
        n_grad=jnp.asarray(1), n_hvp=z, n_acc=z, n_rej=z, n_rej_row=z, blowup=jnp.asarray(False),
    )  # fmt: skip
    s = jax.lax.while_loop(cond, body, s0)
    reached = jnp.arange(n_save) < s.i
    t_out = jnp.where(reached, ts, jnp.nan)
    t_out = jnp.where((s.status == STOPPED_AT_TOL) & (jnp.arange(n_save) == s.i - 1), s.t, t_out)
    return dict(t=t_out, nu=s.nu_buf, B=s.B_buf, loss=s.loss_buf, status=s.status,
                reason=s.reason, n_evals=s.n_grad + s.n_hvp, n_steps=s.n_acc + s.n_rej,
                n_rejected=s.n_rej, t_end=s.t, nu_final=s.nu, B_final=s.B,
                loss0=loss(B0))  # fmt: skip


_solve_jit = jax.jit(_solve, static_argnames=("model", "max_cg", "lin_tol"))


def time_unit(model, params0) -> float:
    """The flow's natural time: 1 for N = 2 (escape at t ~ log(1/α)), max w(0)^{2−N} for N ≥ 3."""
    if model.depth == 2:
        return 1.0
    return float(jnp.max(bases0(model, params0)))


def mirror_flow(
    model,
    problem,
    *,
    t1: float | None = None,
    n_saves: int = 30,
    t_first: float | None = None,
    ts=None,
    loss_tol: float | None = None,
    rtol: float = 1e-6,
    atol: float = 0.0,
    params0=None,
    max_steps: int = 100_000,
    max_evals: float | None = None,
    max_cg: int = 1000,
    lin_tol: float = 0.05,
    check: bool = True,
) -> MirrorFlowResult:
    """The gradient flow of a Hadamard model (positive or signed, depth N ≥ 2, identical factors)
    on ½‖Ax̃ − y‖², solved exactly in the dual variable ν = ∫r (module docstring), by ROS34PW2.

    Snapshots at ``ts`` (increasing, > 0) or at ``n_saves`` log-spaced times in [t_first, t1];
    t1 defaults to 1e9 × ``time_unit`` (1 for N = 2, max w(0)^{2−N} for N ≥ 3), t_first to 1e-3 ×
    the unit. ``rtol``/``atol``: the error of each step in every factor (w, or u and v), as the
    parameter flow's (atol = 0, the default: purely relative, however small the entry).
    ``params0`` defaults to ``model.init_params()`` (α·1); any positive start of the model's shape
    works. ``loss_tol`` stops once ½‖Ax̃ − y‖² is below it. ``max_evals`` caps right-hand sides +
    Jacobian–vector products (each one A and one Aᵀ product). With ``check`` a failed run (budget
    spent, step collapsed, blow-up) raises ``SolverError`` naming the time; otherwise its status
    and ``reason`` say so. Returns a ``MirrorFlowResult`` (iterable as (t, nu, x_tilde, status,
    n_evals)).
    """
    _check(model, problem)
    if params0 is None:
        params0 = model.init_params()
    if not (rtol > 0 and atol >= 0):
        raise ConfigError(f"need rtol > 0 and atol >= 0, got rtol={rtol}, atol={atol}")
    B0 = bases0(model, params0)
    if ts is None:
        unit = time_unit(model, params0)
        t1 = 1e9 * unit if t1 is None else float(t1)
        t_first = 1e-3 * unit if t_first is None else float(t_first)
        if not 0 < t_first < t1:
            raise ConfigError(f"need 0 < t_first < t1, got t_first={t_first}, t1={t1}")
        ts = np.geomspace(t_first, t1, n_saves)
        ts[-1] = t1
    ts = np.asarray(ts, dtype=np.float64)
    if ts.ndim != 1 or ts.size == 0 or not (ts[0] > 0 and np.all(np.diff(ts) > 0)):
        raise ConfigError("save times ts must be increasing and > 0")
    tol = -np.inf if loss_tol is None else float(loss_tol)
    cap = np.inf if max_evals is None else float(max_evals)
    shape = _Shape(int(model.depth), bool(model.signed))
    out = _solve_jit(shape, problem, B0, jnp.asarray(ts), float(rtol), float(atol), tol, cap,
                     int(max_steps), max_cg=int(max_cg), lin_tol=float(lin_tol))  # fmt: skip
    out = jax.device_get(out)
    status, reason = int(out["status"]), int(out["reason"])
    Bs = jnp.concatenate([B0[None], jnp.asarray(out["B"])])  # (s+1, P, n), NaN where not reached
    Bf = jnp.asarray(out["B_final"])
    res = MirrorFlowResult(
        t=np.concatenate([[0.0], out["t"]]),
        nu=np.concatenate([np.zeros((1, out["nu"].shape[1])), out["nu"]]),
        x_tilde=np.asarray(jax.vmap(lambda B: x_from_bases(model, B))(Bs)),
        params=np.asarray(jax.vmap(lambda B: _params_from_bases(model, B))(Bs)),
        loss=np.concatenate([[float(out["loss0"])], out["loss"]]),
        status=status,
        reason=REASONS[reason],
        n_evals=int(out["n_evals"]),
        n_steps=int(out["n_steps"]),
        n_rejected=int(out["n_rejected"]),
        t_end=float(out["t_end"]),
        nu_final=np.asarray(out["nu_final"]),
        x_final=np.asarray(x_from_bases(model, Bf)),
        final_params=np.asarray(_params_from_bases(model, Bf)),
    )
    if check and status == FAILED:
        raise SolverError(
            f"the mirror flow failed at t = {res.t_end:.6g} ({res.reason}) after {res.n_steps} "
            f"steps and {res.n_evals} evaluations"
            + ("; the exact flow cannot blow up in finite time: tighten rtol"
               if reason == 4 else "; raise max_steps/max_evals or loosen rtol")  # fmt: skip
        )
    return res
