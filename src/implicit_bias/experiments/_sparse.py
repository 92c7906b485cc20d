"""Shared pieces of the seed-003 sparse experiments: the flow to its limit, with a relative loss stop.

Two integrators of the same vector field −``descent_direction`` (the engine's):
  ``engine_flow``  the engine's ``GradientFlow`` (explicit Tsit5): crosses the saddle plateau in few
                   steps and is what the benchmark times;
  ``stiff_flow``   the same with ``solver="kvaerno5"`` (implicit). Near the limit the flow is
                   stiff: the residual left in the directions that only the tiny off-support coordinates can fit decays at a rate
                   ~ x_off^{2−2/N}, while the support coordinates bound an explicit step by ~1/‖A‖²x_max.
                   At n = 40 Tsit5 needs > 3·10⁵ steps (N = 3, α = 0.03) where Kvaerno5 needs ~6·10³.
"""

import numpy as np

from implicit_bias import checks
from implicit_bias.models.hadamard import Hadamard
from implicit_bias.optim import GradientFlow, Trajectory, fit
from implicit_bias.theory import sparse as theory


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
                loss=loss,
                loss_tol=tol,
                requires=(h_simple, UNIFORM),
            ),  # fmt: skip
        ]
    return found
