"""Mutation tests for the regime maps (issue 21): every claim is failed by a realistic defect.

Each mutant monkeypatches one name in the experiment module's namespace for one TINY run;
``mutation.check_mutants`` asserts that the listed claims fail (status "fail", not "unconverged" or
"outside") and that every claim of the clean TINY run is failed by some mutant.
"""

import numpy as np
import pytest

from mutation import Mutant, check_mutants, per_experiment


def eta_halved_in_simulation(mp, module):
    """GD runs at η/2 while the map labels the cell η (a unit slip between the grid and the method)."""
    real = module.GD
    mp.setattr(module, "GD", lambda *, eta, **kw: real(eta=0.5 * eta, **kw))


def flattest_doubled(mp, module):
    """The flattest minimizer's sharpness taken as 2N y^{2−2/N} (the Hessian of ½(∏w − y)² read
    without its ½): the stability bound 2/λ of every minimizer drawn at half its value."""
    real = module.flattest_sharpness
    mp.setattr(module, "flattest_sharpness", lambda y, N: 2.0 * real(y, N))


def seed_bound_times(factor: float):
    """The seed's step-size bound (10) off by a constant factor."""

    def apply(mp, module):
        real = module.seed_bound
        mp.setattr(module, "seed_bound", lambda cfg, alpha: factor * real(cfg, alpha))

    return apply


def gfs_invariants_sign_flipped(mp, module):
    """The GFS sharpness computed with the flow's invariants of the wrong sign, c_i = w_1² − w_i²
    (the limit solved on the wrong conserved manifold)."""
    real = module.gfs_closed_form

    def patched(w, y):
        w = np.asarray(w, dtype=np.float64)
        with np.errstate(all="ignore"):
            w_first = w[..., :1]
            mirrored = np.sqrt(np.maximum(2 * w_first**2 - w**2, 1e-300))
        return np.where(np.all(w > 0, axis=-1), real(mirrored, y), np.nan)

    mp.setattr(module, "gfs_closed_form", patched)


def flow_potential_for_gd(mp, module):
    """GD's limit certified against the flow's Φ_α (α_∞ and the tilt forgotten)."""
    real = module.certificates.hyperbolic
    mp.setattr(module.certificates, "gd_potential",
               lambda alpha, log_P, tilt_sum: real(np.full(np.shape(log_P), alpha)))  # fmt: skip


def diagonal_eta_halved(mp, module):
    """GD runs at η/2 while the map labels the cell η."""
    real = module._sums_batch
    mp.setattr(module, "_sums_batch",
               lambda model, problem, p0, etas, *a: real(model, problem, p0, 0.5 * etas, *a))  # fmt: skip


def dlr_eta_halved(mp, module):
    """GD runs at η/2 while the map labels the cell η (the run and its tail)."""
    real = module.GD
    mp.setattr(module, "GD", lambda *, eta, **kw: real(eta=0.5 * eta, **kw))


def dlr_flattest_doubled(mp, module):
    """The flattest minimizer's sharpness read off the loss without its ½ (2N a ‖β*‖^{−2/N}): the
    stability bound of every minimizer drawn at half its value."""
    real = module.flattest_sharpness
    mp.setattr(module, "flattest_sharpness", lambda a, norm, N: 2.0 * real(a, norm, N))


def dlr_seed_bound_times(factor: float):
    """Seed 004's bound 1/(2σ) off by a constant factor (e.g. read as 2/σ)."""

    def apply(mp, module):
        real = module.seed_bound
        mp.setattr(module, "seed_bound", lambda cfg: factor * real(cfg))

    return apply


def dlr_flow_init_times(factor: float):
    """The small-init flows started at ``factor`` × the configured scale (the scale applied twice,
    or a variance read as a standard deviation): their end is no longer the small-init flow's."""

    def apply(mp, module):
        real = module.flow_inits

        def patched(cfg, k):
            return [tuple(factor * W for W in p) for p in real(cfg, k)]

        mp.setattr(module, "flow_inits", patched)

    return apply


MUTANTS: dict[str, list[Mutant]] = {
    "regime_diagonal": [
        Mutant(
            "GD's limit certified against Φ_α (no α_∞, no tilt)",
            flow_potential_for_gd,
            kills=(r"not certified as argmin",),
        ),  # fmt: skip
        Mutant(
            "η halved in the simulation", diagonal_eta_halved, kills=(r"λ_max\(∇²L\) above 2/η",)
        ),  # fmt: skip
    ],
    "regime_dlr": [
        Mutant("η halved in the simulation", dlr_eta_halved, kills=(r"converged above 2/λ_min",)),
        Mutant(
            "flattest minimizer's sharpness ×2 (its bound halved)",
            dlr_flattest_doubled,
            kills=(r"converged above 2/λ_min", r"no flatter than λ_min"),
        ),  # fmt: skip
        Mutant(
            "small-init flows started at 40× their scale",
            dlr_flow_init_times(40.0),
            kills=(r"≤ λ_MC",),
        ),  # fmt: skip
        Mutant(
            "seed 004's bound ×4", dlr_seed_bound_times(4.0), kills=(r"below seed 004's bound",)
        ),  # fmt: skip
        Mutant(
            "run truncated to a tenth of its steps",
            lambda mp, module: None,
            kills=(r"below seed 004's bound",),
            config={"n_steps": 300, "n_saves": 30},
        ),
    ],
    "regime_dmf": [
        Mutant(
            "η halved in the simulation",
            eta_halved_in_simulation,
            kills=(r"converged above 2/\(N y",),
        ),  # fmt: skip
        Mutant(
            "flattest minimizer's sharpness ×2 (its bound halved)",
            flattest_doubled,
            kills=(r"converged above 2/\(N y",),
        ),  # fmt: skip
        Mutant(
            "seed bound (10) ×1000", seed_bound_times(1000.0), kills=(r"below the seed's bound",)
        ),  # fmt: skip
        Mutant(
            "run truncated to a tenth of its steps",
            lambda mp, module: None,
            kills=(r"below the seed's bound",),
            config={"n_steps": 600, "n_saves": 60},
        ),
        Mutant(
            "classification: 'converged' at loss ≤ 0.1·y² (a threshold 1e19× too loose)",
            lambda mp, module: None,
            kills=(r"converged above 2/\(N y",),
            config={"loss_tol": 0.1},
        ),
        Mutant(
            "GFS invariants of the wrong sign",
            gfs_invariants_sign_flipped,
            kills=(r"GFS sharpness rises",),
        ),  # fmt: skip
    ],
}


@pytest.mark.parametrize("name", per_experiment(sorted(MUTANTS)))
def test_every_claim_is_failed_by_a_mutant(name):
    check_mutants(name, MUTANTS[name])
