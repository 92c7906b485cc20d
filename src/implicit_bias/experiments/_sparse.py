"""Shared pieces of the seed-003 sparse experiments: the flow to its limit, with a relative loss stop.

Two integrators of the same vector field −``descent_direction`` (the engine's):
  ``engine_flow``  the engine's ``GradientFlow`` (explicit Tsit5): crosses the saddle plateau in few
                   steps and is what the benchmark times;
  ``stiff_flow``   the same with ``solver="kvaerno5"`` (implicit). Near the limit the flow is
                   stiff: the residual left in the directions that only the tiny off-support coordinates can fit decays at a rate
                   ~ x_off^{2−2/N}, while the support coordinates bound an explicit step by ~1/‖A‖²x_max.
                   At n = 40 Tsit5 needs > 3·10⁵ steps (N = 3, α = 0.03) where Kvaerno5 needs ~6·10³.

The convex-limit claims are certified (``certified_limit``, ``theory.certificates``): the run's dual
point gives a duality gap and a rigorous bound on ‖x − x*‖; ``gd_with_sums`` runs GD on u^{⊙2} − v^{⊙2}
and keeps the sums its exact product formula needs.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias import checks
from implicit_bias.models.hadamard import Hadamard
from implicit_bias.optim import GradientFlow, Trajectory, fit
from implicit_bias.theory import certificates, sparse as theory


def loss_tol(problem, rel_tol: float) -> float:
    """rel_tol · ½‖y‖²: the stop of every flow here."""
    return float(rel_tol * 0.5 * np.sum(np.asarray(problem.y) ** 2))


def engine_flow(problem, *, rel_tol=1e-12, t1=1e9, n_saves=60, rtol=1e-8, atol=1e-12,
                max_steps=2_000_000) -> GradientFlow:  # fmt: skip
    """The engine's gradient flow on a log grid from t = 1e-2, stopped once L < rel_tol · ½‖y‖²."""
    return GradientFlow(t1=t1, n_saves=n_saves, spacing="log", t_first=1e-2, rtol=rtol, atol=atol,
                        loss_tol=loss_tol(problem, rel_tol), max_steps=max_steps)  # fmt: skip


def observer(model):
    """A structural copy of a Hadamard ``model`` (α fixed) to pass as ``observe``: one compile for all α."""
    if isinstance(model, Hadamard):
        return Hadamard(depth=model.depth, n=model.n, signed=model.signed, factors=model.factors)
    return model


def stiff_method(problem, *, rel_tol=1e-12, t1=1e12, n_saves=60, rtol=1e-8, atol=1e-12,
                 max_steps=200_000) -> GradientFlow:  # fmt: skip
    """The engine's gradient flow with the implicit Kvaerno5 solver, log grid from t = 1e-2, stopped
    once L < rel_tol · ½‖y‖²."""
    return GradientFlow(t1=t1, n_saves=n_saves, spacing="log", t_first=1e-2, rtol=rtol, atol=atol,
                        loss_tol=loss_tol(problem, rel_tol), max_steps=max_steps,
                        solver="kvaerno5")  # fmt: skip


def stiff_flow(model, problem, params0=None, **kw) -> Trajectory:
    """Gradient flow to its limit by the implicit Kvaerno5 solver (``fit`` with ``stiff_method``);
    a SolverError if the step budget runs out. Snapshots of x̃ = model(params) on a log grid."""
    return fit(model, problem, stiff_method(problem, **kw), params0=params0,
               observe=observer(model), label="gradient flow (Kvaerno5)")  # fmt: skip


def limit(model, problem, params0=None, **kw) -> tuple[Trajectory, np.ndarray]:
    """(trajectory, x̃ at the end) of the stiff flow of ``model`` from ``params0`` (default α·1)."""
    traj = stiff_flow(model, problem, params0, **kw)
    return traj, np.asarray(model(traj.final))


def engine_limit(model, problem, method, params0=None) -> tuple[Trajectory, np.ndarray]:
    """The same with the engine's ``fit`` (explicit solver or GD)."""
    traj = fit(model, problem, method, params0=params0, observe=observer(model))
    return traj, np.asarray(model(traj.final))


# ---------------------------------------------------------------------------------------------
# certified convex limits (theory.certificates)

CERT_BASIS = (
    "duality certificate (theory.certificates), no reference solver: the run's dual point λ "
    "(∇Φ(x) = Aᵀλ, λ = −cν) gives D(λ); a feasible correction x̂ gives Φ(x̂); G = Φ(x̂) − D(λ) ≥ "
    "D_Φ(x*, x_λ); with μ the curvature of Φ along null(A) over the box the bound covers, ‖x − x*‖ ≤ "
    "‖x − x_λ‖ + ‖Δ‖ + (√(2G) + ‖Δ‖_H)/√μ, Δ = x̂ − x_λ; accuracy: what the claim asserts, "
    "‖x − x*‖ ≤ accuracy·‖x‖"
)


def certify_limit(potential, A, y, x, lam=None) -> certificates.Certificate:
    """The certificate of ``x`` as argmin ``potential`` over {Az = y} (z ≥ 0 for positive kinds),
    from ``lam`` or, by default, the dual point recomputed from x (``dual_from_point``)."""
    if lam is None:
        lam = certificates.dual_from_point(potential, A, x)
    return certificates.certify(potential, A, y, x, lam)


def certified_limit(name, cert, x, *, accuracy, source, basis=CERT_BASIS, **kw) -> checks.Check:
    """A certified claim from a ``Certificate``: bound ‖x − x*‖/‖x‖ ≤ ``accuracy``; the certificate's
    numbers (absolute) are stored with it."""
    norm = float(np.linalg.norm(np.asarray(x)))
    return checks.certified(
        name, primal=cert.primal, dual=cert.dual, gap=cert.gap, feasibility=cert.feasibility,
        modulus=cert.modulus, bound=cert.bound / norm, accuracy=accuracy, source=source,
        basis=basis,
        certificate={"distance": cert.distance, "offset": cert.offset, "radius": cert.radius,
                     "modulus_box": cert.modulus_box, "norm": norm},
        **kw,
    )  # fmt: skip


def certificate_note(check) -> str:
    """'name: certificate: primal … · dual … · gap … · ‖Ax − y‖ … · modulus μ … → bound …' (the CLI
    prints notes: every certified claim shows its gap and bound there)."""
    return f"{check.name}: {checks.certificate_line(check.certificate)}"


@functools.partial(jax.jit, static_argnames=("chunk", "max_chunks"))
def _gd_sums(model, problem, params0, eta, loss_tol, chunk, max_chunks):
    grad = jax.grad(lambda p: problem.loss(model(p)))
    n = problem.A.shape[1]

    def step(c, _):
        p, S, logP, tau, nu, zmax = c
        r = problem.A @ model(p) - problem.y
        z = 2 * eta * (problem.A.T @ r)
        at = jnp.arctanh(z)
        c = (p - eta * grad(p), S + at, logP + jnp.log1p(-(z * z)), tau + (at - z), nu + r,
             jnp.maximum(zmax, jnp.max(jnp.abs(z))))  # fmt: skip
        return c, None

    def cond(s):
        k, c = s
        return (k < max_chunks) & (problem.loss(model(c[0])) > loss_tol)

    def body(s):
        k, c = s
        c, _ = jax.lax.scan(step, c, None, length=chunk)
        return k + 1, c

    zero = jnp.zeros(n, dtype=jnp.float64)
    c0 = (params0, zero, zero, zero, jnp.zeros(problem.A.shape[0], dtype=jnp.float64),
          jnp.asarray(0.0, dtype=jnp.float64))  # fmt: skip
    k, c = jax.lax.while_loop(cond, body, (jnp.asarray(0), c0))
    return k, c


def gd_with_sums(model, problem, eta, *, loss_tol, max_steps, chunk=500) -> dict:
    """GD with step η on ½‖A(u^{⊙2} − v^{⊙2}) − y‖² from the model's start (the update is the
    autodiff gradient of the loss), run in chunks until L ≤ loss_tol or ``max_steps``, keeping per
    coordinate S = Σartanh(2ηg_j), log P = Σlog(1 − 4η²g_j²), Σ(artanh(2ηg_j) − 2ηg_j), ν = Σ r_j
    and max |2ηg_j| (g_j = Aᵀr_j): what ``certificates.gd_product`` / ``gd_potential`` need."""
    k, (p, S, logP, tau, nu, zmax) = _gd_sums(
        model, problem, model.init_params(), float(eta), float(loss_tol), int(chunk),
        max(1, -(-int(max_steps) // int(chunk))),
    )  # fmt: skip
    p = np.asarray(p)
    return {"params": p, "x": np.asarray(model(jnp.asarray(p))), "S": np.asarray(S),
            "log_P": np.asarray(logP), "tilt_sum": np.asarray(tau), "nu": np.asarray(nu),
            "z_max": float(zmax), "n_steps": int(k) * int(chunk)}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the checks of the ε theorems (positive and general case), shared by sparse_positive/_signed

POSITIVE = "seed 003, Thm (Chou, Maly & Rauhut 2022), positive case"
GENERAL = "seed 003, Thm (Chou, Maly & Rauhut 2022), general case"
UNIFORM = "uniform start w(0) = u(0) = v(0) = α·1"


def final_loss(A, y, x) -> float:
    """L = ½‖Ax − y‖² at the flow's stop (computed here, not taken from the solver)."""
    return float(0.5 * np.sum((np.asarray(A) @ np.asarray(x) - np.asarray(y)) ** 2))


def uniform_start(x0s) -> "checks.Check":
    """Hypothesis: every run starts from a uniform product x̃(0) = α^N·1 (the theorems' start)."""
    spread = max(float(np.ptp(np.asarray(x0)) / np.max(np.asarray(x0))) for x0 in x0s)
    return checks.hypothesis(UNIFORM, spread == 0.0, predicted="max−min of x̃(0) = 0",
                             observed=spread, source="seed 003, 'Simplification for identical initialization'")  # fmt: skip


def epsilon_checks(tag, *, N, b1, bmin, Q, lam, A, y, x_inf, rel_tol, signed) -> list:
    """The checks of one flow limit against the ε theorem: convergence to S (S₊), the two-sided
    bound Q ≤ ‖x_∞‖₁ ≤ (1+ε)Q and, for N > 2, the seed's simplified ε ≤ N(β₁/Q)^{1−2/N}."""
    source = GENERAL if signed else POSITIVE
    S = "S" if signed else "S₊"
    loss = final_loss(A, y, x_inf)
    tol = rel_tol * 0.5 * float(np.sum(np.asarray(y) ** 2))
    slack = theory.stop_slack(lam, A, y, x_inf) / Q
    eps = theory.epsilon(b1, bmin, Q, N)
    gap = theory.l1_gap(x_inf, Q)
    h_b1 = f"{tag}: β₁ < Q"
    lp = certificates.lp_line(certificates.lp_certificate(A, y, Q, lam, nonneg=not signed))
    basis_slack = ("± |λᵀr|/Q: λ the dual of the ℓ1 LP, r the residual left at the stop (LP duality: "
                   "the ℓ1 minimum over {Az = y + r} lies within |λᵀr| of Q)")  # fmt: skip
    found = [
        checks.hypothesis(h_b1, b1 < Q, predicted="β₁/Q < 1", observed=b1 / Q, source=source),
        checks.at_most(
            f"{tag}: the flow reaches {S} (L ≤ rel_tol·½‖y‖² before t₁)",
            tol,
            loss,
            source=source + " (the limit exists and lies in " + S + ")",
            basis=f"the stopping tolerance rel_tol = {rel_tol:g} of ½‖y‖²",
        ),  # fmt: skip
        checks.holds(
            f"{tag}: Q ≤ ‖x_∞‖₁ ≤ (1+ε)Q",
            -slack <= gap <= eps + slack,
            predicted=f"gap in [−{slack:.2g}, ε + {slack:.2g}], ε = {eps:.4g}",
            observed=gap,
            source=source,
            basis="ε of the theorem (β₁, β_min from the actual start); "
            "lower side: x_∞ ∈ " + S + "; " + basis_slack,
            detail=lp,
            loss=loss,
            loss_tol=tol,
            requires=(h_b1, UNIFORM),
        ),  # fmt: skip
    ]
    if N > 2:
        simple = theory.epsilon_simplified(b1, Q, N)
        h_simple = f"{tag}: β₁^(1−2/N) ≤ Q^(1−2/N)/2"
        p = 1 - 2 / N
        found += [
            checks.hypothesis(
                h_simple,
                theory.simplified_applies(b1, Q, N),
                predicted="≤ 1/2",
                observed=(b1 / Q) ** p,
                source="seed 003, note to the positive-case theorem",
                basis="the note's own condition for the simplified bound (exact)",
            ),  # fmt: skip
            checks.at_most(
                f"{tag}: (‖x_∞‖₁ − Q)/Q ≤ N(β₁/Q)^(1−2/N) (simplified bound)",
                simple + slack,
                gap,
                source="seed 003, note to the positive-case theorem",
                basis="the note's bound N(β₁/Q)^(1−2/N) " + basis_slack.replace("±", "+"),
                detail=lp,
                loss=loss,
                loss_tol=tol,
                requires=(h_simple, UNIFORM),
            ),  # fmt: skip
        ]
    return found
