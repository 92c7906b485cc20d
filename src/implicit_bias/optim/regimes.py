"""A GD run's regime from the run itself (issue 21): its loss at the snapshots, λ_max(∇²L) at the end,
and the losses and λ_max at a few consecutive GD steps after the end (``TAIL``: snapshots spaced
evenly hide a period-2 oscillation; consecutive steps show it).

    reg = classify(loss, eta, lam_end, loss_tol=…, diverged=…, tail_loss=…, tail_lam=…,
                   lam_flow=…, lam_min=…)

The classes (the definitions are in ``classify``; ``EOS_BAND`` is the definition of "λ_max ≈ 2/η",
not a fitted value):

    converged    loss ≤ loss_tol at the end, near the flow's limit, no loss spike
    elsewhere    converged at a point the caller recognizes as another limit (``elsewhere``: its label)
    EoS          converged with λ_max ∈ [1 − EOS_BAND, 1]·2/η from a start whose flow limit is
                 unstable (λ_flow > 2/η), or not converged, oscillating, with the tail's mean
                 λ_max within ±EOS_BAND·2/η
    catapult     converged after a loss above the initial loss, at lower sharpness than λ_flow
    flatter      converged at a minimizer flatter than the flow's limit: λ_flow − λ_end above
                 max(½(λ_flow − lam_min), lam_tol) (closer to the flattest minimizer than to the flow's)
    oscillating  not converged, the loss rising at some tail step, λ_max away from 2/η
    stalled      not converged, monotone, the loss still ≥ ``stall_loss`` (a caller's saddle level)
    slow         not converged, the loss still decreasing monotonically (the budget ran out)
    diverged     the loss became NaN/inf (in the run or its tail)

Used by ``experiments.regime_dmf`` (which names "converged" *seed limit*), ``experiments.regime_dlr``
and ``explore --eta a:b:n`` (``explore.etamap``).
"""

import numpy as np

EOS_BAND = 0.25  # "λ_max ≈ 2/η": within ±25 % of 2/η (a definition)
U = 2.0**-53
TAIL = 16  # consecutive GD steps after the run

CONVERGED = ("converged", "EoS", "catapult", "flatter")  # the classes a converged run can take


def classify(loss, eta: float, lam_end: float, *, loss_tol: float, diverged: bool, tail_loss,
             tail_lam=None, lam_flow: float | None = None, lam_min: float | None = None,
             lam_tol: float = 0.0, elsewhere: str | None = None,
             stall_loss: float | None = None) -> str:  # fmt: skip
    """One run's regime (see the module docstring).

    ``loss``: the finite losses at the snapshots (the first is the initial loss); ``lam_end``: λ_max
    at the end; ``tail_loss`` (and ``tail_lam``, λ_max there; only read when the tail oscillates
    without converging): ``TAIL`` + 1 consecutive steps from the end. ``lam_flow``: λ_max at the
    gradient flow's limit from the start (None: unknown, then no converged EoS, and a catapult needs
    only the spike); ``lam_min``: the flattest minimizer's λ_max (None: unknown, no "flatter").
    ``loss_tol`` is an absolute loss (for a loss with a positive floor, pass floor + tolerance).
    """
    loss = np.asarray(loss, dtype=np.float64)
    tail_loss = np.asarray(tail_loss, dtype=np.float64)
    if diverged or not np.all(np.isfinite(tail_loss)):
        return "diverged"
    edge = 2.0 / eta
    if loss[-1] <= loss_tol:
        if elsewhere:
            return elsewhere
        if lam_flow is not None and lam_flow > edge and (1.0 - EOS_BAND) * edge <= lam_end <= edge:
            return "EoS"  # the flow's minimizer was unstable: GD flattened down to the edge
        if np.any(loss[1:] > loss[0]) and (lam_flow is None or lam_end < lam_flow):
            return "catapult"
        if lam_flow is not None and lam_min is not None:
            if lam_flow - lam_end > max(0.5 * (lam_flow - lam_min), lam_tol):
                return "flatter"
        return "converged"
    rises = np.diff(tail_loss) > 64 * U * tail_loss[1:]
    if np.any(rises):
        lam = np.asarray(tail_lam, dtype=np.float64) if tail_lam is not None else np.array([np.nan])
        return "EoS" if abs(np.mean(lam) - edge) <= EOS_BAND * edge else "oscillating"
    if stall_loss is not None and tail_loss[-1] >= stall_loss:
        return "stalled"
    return "slow"


def oscillates(tail_loss) -> bool:
    """Whether the loss rises at some consecutive tail step (above 64 ulps): where ``classify`` needs
    ``tail_lam``."""
    tail_loss = np.asarray(tail_loss, dtype=np.float64)
    return bool(
        np.all(np.isfinite(tail_loss)) and np.any(np.diff(tail_loss) > 64 * U * tail_loss[1:])
    )
