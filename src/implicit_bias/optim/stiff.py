"""A matrix-free Rosenbrock solver for stiff gradient flows θ̇ = −∇L(θ).

Why: near a limit, and across the plateaus of a small initialization, the Hessian H = ∇²L has
eigenvalues many orders of magnitude apart. An explicit Runge–Kutta method is then held to steps
h ≲ 3/λ_max(H) by stability, not accuracy, and costs as many gradients as GD at its largest stable
step (issue 13). An implicit method with a dense Jacobian (Kvaerno5) factors a d × d matrix per step.

This module takes the linearly implicit route without a matrix: the 4-stage, order-3 Rosenbrock
method ROS34PW2 (Rang & Angermann 2005, BIT 45:761; L-stable, stiffly accurate, embedded order 2)

    (I − γhJ) k_i = h f(y + Σ_{j<i} a_ij k_j) + hJ Σ_{j<i} γ_ij k_j,      y₁ = y + Σ b_i k_i,

with J = ∂f/∂y = −H(y) applied as a Hessian–vector product (``jax.linearize`` of the gradient once
per step, then one JVP per product) and each stage solved by conjugate gradients: for a gradient
flow W = I + γhH is symmetric, and positive definite wherever H ⪰ −1/(γh) (near a minimum always;
at a saddle CG detects non-positive curvature and the step is rejected and shortened). CG stops
once its residual is ≤ ``lin_tol`` = 0.05 in the error norm (the default safety factor
``epslin`` of CVODE's Krylov linear solvers); since ‖W⁻¹‖₂ ≤ 1 when H ⪰ 0 the stage
error is then of the order of 0.05 tolerance units (exactly so when the weights are uniform). The step size is chosen by the embedded error
estimate Σ (b_i − b̂_i) k_i in the weighted RMS norm ‖e/(atol + rtol·|y|)‖ ≤ 1 (Hairer & Wanner,
Solving ODEs II, IV.7), so the solution is error-controlled like diffrax's explicit solvers.

Work is counted honestly: ``n_grad`` gradient evaluations (one ``linearize`` per attempted step
counts as one, plus three stage gradients), ``n_hvp`` Hessian–vector products (CG iterations and the
γ_ij coupling terms), ``n_loss`` loss evaluations (one per accepted step, for ``loss_tol``).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

# ROS34PW2 (Rang & Angermann 2005, Table 5), the Hairer–Wanner form above
GAMMA = 4.3586652150845900e-01
_A = np.array(
    [
        [0.0, 0.0, 0.0, 0.0],
        [8.7173304301691801e-01, 0.0, 0.0, 0.0],
        [8.4457060015369423e-01, -1.1299064236397981e-01, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
    ]
)
_G = np.array(
    [
        [0.0, 0.0, 0.0, 0.0],
        [-8.7173304301691801e-01, 0.0, 0.0, 0.0],
        [-9.0338057013044082e-01, 5.4180672388095326e-02, 0.0, 0.0],
        [2.4212380706095346e-01, -1.2232505839045147e00, 5.4526025533510214e-01, 0.0],
    ]
)
_B = np.array(
    [2.4212380706095346e-01, -1.2232505839045147e00, 1.5452602553351023e00, 4.3586652150845900e-01]
)
_BHAT = np.array(
    [
        3.7810903145819369e-01,
        -9.6042292212423178e-02,
        5.0000000000000000e-01,
        2.1793326075422950e-01,
    ]
)
TABLEAU = {"A": _A, "G": _G, "B": _B, "B_hat": _BHAT}  # ROS34PW2, for other Rosenbrock loops
ORDER = 3  # of y₁; the embedded solution has order 2, so the controller uses exponent 1/3

OK, FAILED, STOPPED_AT_TOL = 0, 2, 3


class Stats(NamedTuple):
    n_grad: jax.Array
    n_hvp: jax.Array
    n_loss: jax.Array
    n_accepted: jax.Array
    n_rejected: jax.Array


def _cg(matvec, b, x0, weight, tol, max_iter):
    """Conjugate gradients for W x = b from x0, stopping at rms(weight ⊙ (W x − b)) ≤ tol.

    Returns (x, iterations, ok); ok is False if a direction of non-positive curvature pᵀWp ≤ 0 was
    met (W not positive definite) or the iteration limit was reached.
    """
    r = b - matvec(x0)
    p = r
    rr = jnp.vdot(r, r)

    def small(r):
        return _rms(weight * r) <= tol

    def cond(c):
        x, r, p, rr, it, ok = c
        return ok & ~small(r) & (it < max_iter)

    def body(c):
        x, r, p, rr, it, ok = c
        Wp = matvec(p)
        pWp = jnp.vdot(p, Wp)
        good = pWp > 0
        a = jnp.where(good, rr / jnp.where(good, pWp, 1.0), 0.0)
        x = x + a * p
        r = r - a * Wp
        rr_new = jnp.vdot(r, r)
        p = r + (rr_new / rr) * p
        return x, r, p, rr_new, it + 1, ok & good

    x, r, p, rr, it, ok = jax.lax.while_loop(
        cond, body, (x0, r, p, rr, jnp.asarray(1), jnp.asarray(True))
    )
    return x, it, ok & small(r)


def _rms(x):
    return jnp.sqrt(jnp.mean(x * x))


def step(f, y, h, *, rtol, atol, lin_tol, max_cg):
    """One ROS34PW2 step of size h from y. Returns (y1, err, ok, n_hvp); err ≤ 1 accepts the step."""
    fy, jvp = jax.linearize(f, y)
    scale = atol + rtol * jnp.abs(y)
    hg = h * GAMMA

    def W(v):
        return v - hg * jvp(v)

    weight = 1.0 / scale
    ks = []
    n_hvp = jnp.asarray(0)
    ok = jnp.asarray(True)
    for i in range(4):
        if i == 0:
            rhs = h * fy
        else:
            yi = y + sum(_A[i, j] * ks[j] for j in range(i) if _A[i, j] != 0.0)
            coupling = sum(_G[i, j] * ks[j] for j in range(i))
            rhs = h * f(yi) + h * jvp(coupling)
            n_hvp = n_hvp + 1
        # start from the previous stage (or the explicit Euler increment): W ≈ I for small h
        x0 = rhs if i == 0 else ks[-1]
        k, it, good = _cg(W, rhs, x0, weight, lin_tol, max_cg)
        ks.append(k)
        n_hvp = n_hvp + it
        ok = ok & good
    y1 = y + sum(_B[i] * ks[i] for i in range(4))
    e = sum((_B[i] - _BHAT[i]) * ks[i] for i in range(4))
    err = _rms(e / (atol + rtol * jnp.maximum(jnp.abs(y), jnp.abs(y1))))
    ok = ok & jnp.all(jnp.isfinite(y1)) & jnp.isfinite(err)
    return y1, jnp.where(ok, err, jnp.inf), ok, n_hvp


def solve(
    grad_fn,
    loss_fn,
    y0,
    ts,
    *,
    rtol=1e-8,
    atol=1e-10,
    lin_tol=0.05,
    max_cg=200,
    max_steps=100_000,
    loss_tol=None,
    observe=None,
    h0=None,
    start=None,
    max_evals=None,
    report=None,
):
    """Integrate θ̇ = −grad_fn(θ) from ``y0`` (a pytree) through the save times ``ts`` (increasing, > 0).

    Steps are clipped to land on every save time. Returns (ts_reached, losses, observed, final,
    status, Stats): ``losses[i]`` and ``observed[i]`` at ``ts[i]`` for the save times reached (NaN
    after a stop), ``status`` 0 ok, 2 failure (step budget ``max_steps`` or work budget
    ``max_evals`` — gradients + HVPs — spent, or step size collapsed), 3 stopped
    because the loss fell below ``loss_tol`` (the run's end time is then ``ts_reached``'s last entry).

    ``start = (t0, i0, losses, observed, running)`` continues a solve that another solver began:
    ``y0`` is its state at time t0 (ts[i0 − 1] ≤ t0 < ts[i0]), ``losses``/``observed`` hold its first
    i0 snapshots, and ``running`` False returns them unchanged without a step (so that a batch whose
    members need no continuation can share the call). Used by ``GradientFlow(solver="auto")``.

    ``report(t, loss, i)``: a host callback at every snapshot (live progress; not under ``vmap``).
    ``observe`` runs only at snapshots (a ``lax.cond``; under ``vmap`` both branches run).
    """
    flat0, unravel = ravel_pytree(y0)
    observe = observe or (lambda p: p)

    def f(y):
        return -ravel_pytree(grad_fn(unravel(y)))[0]

    def loss(y):
        return loss_fn(unravel(y))

    ts = jnp.asarray(ts, dtype=flat0.dtype)
    n_save = ts.shape[0]
    obs_shape = jax.eval_shape(lambda y: observe(unravel(y)), flat0)
    obs_buf = jax.tree.map(lambda s: jnp.full((n_save,) + s.shape, jnp.nan, s.dtype), obs_shape)
    obs_zero = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), obs_shape)
    loss_buf = jnp.full((n_save,), jnp.nan)
    tol = -jnp.inf if loss_tol is None else loss_tol
    work_cap = jnp.inf if max_evals is None else max_evals
    if start is None:
        t0, i0, status0 = jnp.asarray(0.0, flat0.dtype), jnp.asarray(0), jnp.asarray(-1)
    else:
        t0, i0, loss_buf, obs_buf, running = start
        t0, i0 = jnp.asarray(t0, flat0.dtype), jnp.asarray(i0)
        loss_buf = jnp.asarray(loss_buf, flat0.dtype)
        status0 = jnp.where(running, -1, OK)
    first = ts[jnp.minimum(i0, n_save - 1)] - t0  # time to the first save time still ahead

    if h0 is None:  # Hairer–Wanner's starting step: 1% of ‖y‖/‖f(y)‖ in the error norm
        sc = atol + rtol * jnp.abs(flat0)
        f0 = f(flat0)
        d0, d1 = _rms(flat0 / sc), _rms(f0 / sc)
        h0 = jnp.where((d0 > 1e-5) & (d1 > 1e-5), 0.01 * d0 / d1, 1e-6)
        h0 = jnp.minimum(h0, first)
        n_grad0 = jnp.where(status0 < 0, 1, 0)
    else:
        n_grad0 = jnp.asarray(0)

    class S(NamedTuple):
        t: jax.Array
        y: jax.Array
        h: jax.Array
        i: jax.Array  # next save index
        losses: jax.Array
        obs: object
        status: jax.Array  # -1 running
        stats: Stats

    def cond(s):
        return s.status < 0

    def body(s):
        target = ts[jnp.minimum(s.i, n_save - 1)]
        h = jnp.minimum(s.h, target - s.t)
        lands = h >= target - s.t
        y1, err, ok, n_hvp = step(f, s.y, h, rtol=rtol, atol=atol, lin_tol=lin_tol, max_cg=max_cg)
        accept = ok & (err <= 1.0)
        # controller: h_new = h · clip(0.9 err^(−1/3), 0.2, 6); on a failed solve, h/4
        fac = jnp.where(
            ok, jnp.clip(0.9 * jnp.maximum(err, 1e-10) ** (-1.0 / ORDER), 0.2, 6.0), 0.25
        )
        h_next = h * fac
        t1 = jnp.where(accept, jnp.where(lands, target, s.t + h), s.t)
        y = jnp.where(accept, y1, s.y)
        L = loss(y)
        saved = accept & lands
        losses = jnp.where(saved, s.losses.at[s.i].set(L), s.losses)
        stop_tol = accept & (L < tol)
        o = jax.lax.cond(saved | stop_tol, lambda v: observe(unravel(v)), lambda v: obs_zero, y)
        obs = jax.tree.map(lambda b, v: jnp.where(saved, b.at[s.i].set(v), b), s.obs, o)
        if report is not None:
            jax.lax.cond(saved | stop_tol, lambda: jax.debug.callback(report, t1, L, s.i), lambda: None)
        # a stop at loss_tol between save times records the stopping state in the next slot
        losses = jnp.where(stop_tol & ~lands, losses.at[s.i].set(L), losses)
        obs = jax.tree.map(lambda b, v: jnp.where(stop_tol & ~lands, b.at[s.i].set(v), b), obs, o)
        i = s.i + (saved | stop_tol).astype(s.i.dtype)
        st = s.stats
        stats = Stats(
            n_grad=st.n_grad + 4,
            n_hvp=st.n_hvp + n_hvp,
            n_loss=st.n_loss + 1,
            n_accepted=st.n_accepted + accept,
            n_rejected=st.n_rejected + (~accept),
        )
        n_steps = stats.n_accepted + stats.n_rejected
        collapsed = h_next < 1e-14 * jnp.maximum(1.0, jnp.abs(s.t))
        status = jnp.where(
            stop_tol,
            STOPPED_AT_TOL,
            jnp.where(
                saved & (s.i + 1 >= n_save),
                OK,
                jnp.where(
                    (n_steps >= max_steps) | (stats.n_grad + stats.n_hvp >= work_cap) | collapsed,
                    FAILED,
                    -1,
                ),
            ),
        )
        return S(t1, y, h_next, i, losses, obs, status, stats)

    zero = jnp.asarray(0)
    s0 = S(
        t=t0,
        y=flat0,
        h=jnp.asarray(h0, flat0.dtype),
        i=i0,
        losses=loss_buf,
        obs=obs_buf,
        status=status0,
        stats=Stats(n_grad0, zero, zero, zero, zero),
    )
    s = jax.lax.while_loop(cond, body, s0)
    reached = jnp.arange(n_save) < s.i
    t_out = jnp.where(reached, ts, jnp.nan)
    t_out = jnp.where((s.status == STOPPED_AT_TOL) & (jnp.arange(n_save) == s.i - 1), s.t, t_out)
    return t_out, s.losses, s.obs, unravel(s.y), s.status, s.stats


class FlowResult(NamedTuple):
    """One flow run: snapshot times (NaN where not reached), losses, observed values, final params,
    status (0 ok, 2 failure, 3 stopped at ``loss_tol``) and the work counters."""

    t: jax.Array
    loss: jax.Array
    observed: object
    final: object
    status: jax.Array
    stats: Stats

    @property
    def evals(self) -> int:
        """Gradient evaluations + Hessian–vector products."""
        return int(self.stats.n_grad) + int(self.stats.n_hvp)


def _fit_flow(
    model, problem, params0, ts, loss_tol, rtol, atol, max_evals, *, observe, max_steps, max_cg
):
    from implicit_bias.optim.objective import gradient, objective

    def grad(p):
        return gradient(model, problem, p)

    def loss(p):
        return objective(model, problem, p)

    out = solve(grad, loss, params0, ts, rtol=rtol, atol=atol, loss_tol=loss_tol,
                observe=observe, max_steps=max_steps, max_cg=max_cg, max_evals=max_evals)  # fmt: skip
    return FlowResult(*out)


_fit_flow_jit = jax.jit(_fit_flow, static_argnames=("observe", "max_steps", "max_cg"))


def fit_flow(
    model,
    problem,
    params0,
    *,
    t1: float = 1e9,
    t_first: float = 1e-2,
    n_saves: int = 30,
    loss_tol: float | None = None,
    rtol: float = 1e-6,
    atol: float | None = None,
    observe=None,
    max_steps: int = 50_000,
    max_cg: int = 1000,
    max_evals: float | None = None,
) -> FlowResult:
    """The gradient flow of ``problem.loss(model(θ))`` from ``params0`` by ROS34PW2, snapshots at
    ``n_saves`` log-spaced times in [t_first, t1], stopped once the loss is below ``loss_tol``.

    ``max_evals`` caps the work (gradients + HVPs; unbounded by default): where CG needs many
    iterations per stage, steps vary a hundredfold in cost and a step budget bounds no time.
    ``atol`` defaults to 1e-4·rtol. Model, problem, tolerances and ``loss_tol`` are traced: a new
    problem of the same shape does not recompile. The engine's ``GradientFlow(solver="rosenbrock")``
    is the same solver behind ``fit``; this entry point returns the solver's work counters as well.
    """
    ts = jnp.geomspace(t_first, t1, n_saves)
    atol = 1e-4 * rtol if atol is None else atol
    tol = -jnp.inf if loss_tol is None else loss_tol
    cap = jnp.inf if max_evals is None else float(max_evals)
    return _fit_flow_jit(model, problem, params0, ts, tol, rtol, atol, cap,
                         observe=observe or _identity, max_steps=max_steps, max_cg=max_cg)  # fmt: skip


def _identity(p):
    return p
