"""Mutation tests for the sensing experiments (seeds 002 and 003): every claim is failed by a defect.

Each mutant is a realistic bug, applied by monkeypatching the experiment module's namespace, and names
the claims it must fail (regular expressions). ``mutation.check_mutants`` runs the TINY config cleanly
(every claim passes), then once per mutant, and asserts that every claim of the clean run is failed by
at least one mutant. See tests/mutation.py.
"""

import pytest

from mutation import Mutant, check_mutants, per_experiment, scale_kwarg


def _alpha_fixed(value_of):
    """A defect: the model ignores the α it is given (the loop variable is not passed through)."""

    def apply(mp, module):
        real = module.SymmetricFactor

        def patched(*args, **kw):
            if kw.get("init") == "identity":
                kw["alpha"] = value_of(module)
            return real(*args, **kw)

        mp.setattr(module, "SymmetricFactor", patched)

    return apply


def _alphas_reversed(mp, module):
    """A defect: the runs are labelled with the α list in reverse order (the follow-up α is not
    in the list and keeps its value)."""
    real = module.SymmetricFactor

    def patched(*args, **kw):
        a = kw["alpha"]
        lo, hi = 1e-4, 1e-2  # sensing_exhaustive3x3 TINY alphas
        if a in (lo, hi):
            kw["alpha"] = lo * hi / a
        return real(*args, **kw)

    mp.setattr(module, "SymmetricFactor", patched)


def _width_n(mp, module):
    """A defect: the small-width runs are built with d = n (and a large Gaussian init)."""
    real = module.SymmetricFactor

    def patched(*args, **kw):
        if kw.get("init") == "gaussian":
            kw["d"] = kw["n"]
            kw["alpha"] = 0.3
        return real(*args, **kw)

    mp.setattr(module, "SymmetricFactor", patched)


def _closed_form_seed_scaling(mp, module):
    """A defect: the closed form uses the seed's s_t = −∫r (U̇ = −A*(r)U) with our ½‖·‖² loss."""
    real = module.theory.commuting_s
    mp.setattr(module.theory, "commuting_s", lambda *a, **kw: real(*a, **kw) / 2)


def _depth_one(mp, module):
    """A defect: the deep model is built with depth 1 (wrong depth)."""
    real = module.DeepMatrix

    def patched(*args, **kw):
        if kw.get("depth", 1) >= 3:
            kw["depth"] = 1
        return real(*args, **kw)

    mp.setattr(module, "DeepMatrix", patched)


def _depth1_nonzero_init(mp, module):
    """A defect: the depth-1 run starts from 1e-7·I instead of 0 (its null-space part, ≈ 2e-7 of ‖X_F‖
    at TINY's m = 50, never decays: the limit moves by less than the 1e-6 tolerance the claim had
    before it was certified)."""
    real = module.DeepMatrix

    def patched(*args, **kw):
        if kw.get("depth") == 1:
            kw["alpha"] = 1e-7
        return real(*args, **kw)

    mp.setattr(module, "DeepMatrix", patched)


def _nn_face_moved(mp, module):
    """A defect: X_NN's refined face point is scaled by 1 + 1e-9 (X̂ off the minimizer by 1e-9
    relative; the old KKT sanity, residuals ≤ 1e-6, passed it)."""
    real = module.nuclear.refine_psd_face
    mp.setattr(module.nuclear, "refine_psd_face",
               lambda *a, **kw: real(*a, **kw) * (1 + 1e-9) ** 0.5)  # fmt: skip


def _l2_baseline(mp, module):
    """A defect: the least-squares (min-Frobenius) solution in place of the nuclear-norm one."""
    mp.setattr(module.nuclear, "min_nuclear_norm", lambda p, **kw: module.nuclear.min_frobenius(p))


def _certificate_wrong_rank(mp, module):
    """A defect: the nuclear-norm dual certificate is built for rank + 1 (the rank off by one)."""
    real = module.theory.completion_dual_certificate
    mp.setattr(module.theory, "completion_dual_certificate",
               lambda X, rows, cols, rank: real(X, rows, cols, rank + 1))  # fmt: skip


def _init_scale_ignored(mp, module):
    """A defect: the init-scale sweep builds every model at the largest scale."""
    real = module._model
    mp.setattr(module, "_model", lambda cfg, depth, scale: real(cfg, depth, max(cfg.init_scales)))


def _product_depth_one(mp, module):
    """A defect: the product flow is built with depth 1 (plain gradient flow on W)."""
    real = module.ProductFlow
    mp.setattr(module, "ProductFlow", lambda **kw: real(**{**kw, "depth": 1}))


def _product_operator_transposed(mp, module):
    """A defect: A_W(Z) = Σ (WWᵀ)^{(N−j)/N} Z (WWᵀ)^{(j−1)/N} (WWᵀ on both sides)."""
    import dataclasses
    import functools as ft

    import jax
    import jax.numpy as jnp

    from implicit_bias.models import product_flow as pf

    @ft.partial(jax.tree_util.register_dataclass, data_fields=[], meta_fields=["depth", "shape"])
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Wrong(module.ProductFlow):
        def precondition(self, W, G):
            N = self.depth
            S = W @ W.T
            out = jnp.zeros_like(G)
            for j in range(1, N + 1):
                out = out + pf.psd_power(S, (N - j) / N) @ G @ pf.psd_power(S, (j - 1) / N)
            return out

    mp.setattr(module, "ProductFlow", Wrong)


def _volume_wrong_depth(mp, module):
    """A defect: log v evaluated for depth 1 instead of the flow's depth."""
    real = module.log_volume
    mp.setattr(module, "log_volume", lambda W, N: real(W, 1))


MUTANTS: dict[str, list[Mutant]] = {
    "sensing_gaussian": [
        Mutant(
            "α not passed to the model (every d = n run at the largest α)",
            _alpha_fixed(lambda m: 0.1),
            kills=("as a power of α", "closer at the smallest α", "generalizes worse"),
        ),
        Mutant("small-width runs built with d = n", _width_n, kills=("unique global minimum",)),
        Mutant(
            "X_NN's face point moved by 1e-9",
            _nn_face_moved,
            kills=("X_NN = argmin",),
            config={"alphas": (0.1,), "small_d": (2,), "n_steps": 10},
        ),  # fmt: skip  X_NN is what it tests
    ],
    "sensing_exhaustive3x3": [
        Mutant(
            "α not passed to the model (every run at α = 0.3)",
            _alpha_fixed(lambda m: 0.3),
            kills=("within",),
        ),
        Mutant("α list reversed", _alphas_reversed, kills=("smaller α ends closer",)),
    ],
    "sensing_commuting": [
        Mutant(
            "closed form with the seed's s = −∫r under our ½‖·‖² loss",
            _closed_form_seed_scaling,
            kills=("closed form e\\^",),
        ),
        Mutant(
            "init ×10 in the simulation (not in the prediction)",
            scale_kwarg("SymmetricFactor", "alpha", 10.0),
            kills=("predicted limit", "m = 1: flow limit", "entropic bound"),
        ),
        Mutant(
            "α not passed to the model (every run at the largest α)",
            _alpha_fixed(lambda m: 0.1),
            kills=("decreases as α → 0", "m = 1: KKT"),
        ),
    ],
    "sensing_completion_depth": [
        Mutant(
            "wrong depth (1 in place of 3)",
            _depth_one,
            kills=("test error ≤ max\\(nuclear", "lower effective rank"),
        ),
        Mutant("init scale ignored in the sweep", _init_scale_ignored, kills=("smallest init",)),
        Mutant(
            "dual certificate for rank + 1",
            _certificate_wrong_rank,
            kills=("the unique minimizer",),
        ),
    ],
    "sensing_lowrank_depth": [
        Mutant("wrong depth (1 in place of 3)", _depth_one, kills=("error ≤ max\\(nuclear",)),
        Mutant("ℓ2 solution in place of the nuclear-norm one", _l2_baseline, kills=("exact at",)),
        Mutant("depth 1 from 1e-7·I, not 0", _depth1_nonzero_init, kills=("pinv solution",)),
    ],
    "sensing_product_flow": [
        Mutant(
            "product flow of depth 1",
            _product_depth_one,
            kills=("balanced layer flow", "rank preserved"),
        ),
        Mutant(
            "A_W with WWᵀ on both sides",
            _product_operator_transposed,
            kills=("balanced layer flow",),
        ),
        Mutant("log v at the wrong depth", _volume_wrong_depth, kills=("larger v",)),
    ],
}


@pytest.mark.parametrize("name", per_experiment(sorted(MUTANTS)))
def test_every_sensing_claim_fails_under_a_defect(name):
    check_mutants(name, MUTANTS[name])
