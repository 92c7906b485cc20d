"""Mutation tests for the experiments of seeds 000 and 004: every claim is failed by a realistic defect.

Each mutant monkeypatches one name in the experiment module's namespace (or in the theory module it
calls) for one TINY run; ``mutation.check_mutants`` asserts that the listed claims fail (status "fail",
not "unconverged" or "outside") and that every claim of the clean TINY run is failed by some mutant.
"""

import numpy as np
import pytest

from mutation import Mutant, check_mutants, per_experiment, scale_kwarg

# ---------------------------------------------------------------------------------------------
# defects shared by the seed-000 experiments


def init_as(init: str):
    """The simulation uses another initialization than the one the theorem is about."""

    def apply(mp, module):
        real = module.DeepMatrix

        def patched(**kw):
            kw = {**kw, "init": init}
            if init == "perturbed":
                kw["beta"] = 0.5 * kw["alpha"]
            else:
                kw.pop("beta", None)
            return real(**kw)

        mp.setattr(module, "DeepMatrix", patched)

    return apply


def eigenbasis_reversed(mp, module):
    """The eigenvectors come back in the opposite order to the eigenvalues (an ordering bug in eigh)."""
    real = module.theory.eigh

    def patched(W_hat):
        lam, V = real(W_hat)
        return lam, V[:, ::-1]

    mp.setattr(module.theory, "eigh", patched)


def depth_plus_one(fn_name: str):
    """A theory prediction computed for depth N + 1 instead of N."""

    def apply(mp, module):
        real = getattr(module.theory, fn_name)

        def patched(*args):
            args = list(args)
            args[3] = args[3] + 1  # (…, N, …): the depth is the fourth positional argument
            return real(*args)

        mp.setattr(module.theory, fn_name, patched)

    return apply


def limit_as_identical(mp, module):
    """Thm 3.1's prediction replaced by Thm 2.2's (VΛ₊Vᵀ instead of Ŵ)."""
    mp.setattr(module.theory, "limit_perturbed", module.theory.limit_identical)


def data_from_wrong_target(mp, module):
    """Problem (1) built from V|Λ|Vᵀ (the eigenvalues' signs lost) instead of the ground truth Ŵ."""
    real = module.data_problem

    def patched(W_hat, seed):
        lam, V = np.linalg.eigh(np.asarray(W_hat))
        return real((V * np.abs(lam)) @ V.T, seed)

    mp.setattr(module, "data_problem", patched)


def effective_rank_as(formula):
    """r computed by another formula of the eigenvalues e and singular values s of W."""

    def apply(mp, module):
        import jax.numpy as jnp

        from implicit_bias import metrics
        from implicit_bias.models.deep_matrix import product

        def observer(V):
            Vj = jnp.asarray(V)

            def observe(params):
                W = product(params)
                e, s = metrics.eigenvalues_in_basis(W, Vj), metrics.singular_values(W)
                return {"eig": e, "eff_rank": formula(e, s), "sv": s}

            return observe

        mp.setattr(module, "eigen_observer", observer)

    return apply


def depth_minus_one(mp, module):
    """The simulation built one layer shallower than the theorem's N (an off-by-one in the model)."""
    real = module.DeepMatrix
    mp.setattr(module, "DeepMatrix", lambda **kw: real(**{**kw, "depth": kw["depth"] - 1}))


# ---------------------------------------------------------------------------------------------
# defects shared by the seed-004 experiments


def delta_scaled(factor: float):
    """The spectral initialization at scale e^{−factor·δ} instead of e^{−δ}."""

    def apply(mp, module):
        real = module.spectral_init
        mp.setattr(
            module,
            "spectral_init",
            lambda U, V, delta, widths, **kw: real(U, V, np.asarray(delta) * factor, widths, **kw),
        )

    return apply


def one_layer_gets_a_hidden_layer(mp, module):
    """The one-layer (L = 1) baseline built with a hidden layer, i.e. as a two-layer model."""
    real_model, real_init = module.deep_linear, module.spectral_init

    def widen(widths):
        widths = tuple(widths)
        return (widths[0], min(widths), widths[-1]) if len(widths) == 2 else widths

    mp.setattr(module, "deep_linear", lambda widths: real_model(widen(widths)))
    mp.setattr(
        module,
        "spectral_init",
        lambda U, V, delta, widths, **kw: real_init(U, V, delta, widen(widths), **kw),
    )


def roles_swapped_in_closed_form(mp, module):
    """The closed form evaluated with σ and λ swapped (the seed's printed roles)."""
    real = module.theory.W_continuous

    def patched(t, U, V, sigma, lam, delta):
        r = np.size(sigma)
        return real(t, U, V, np.asarray(lam)[:r], sigma, delta)

    mp.setattr(module.theory, "W_continuous", patched)


def components_reversed(mp, module):
    """Components u_iᵀWv_i read with the singular pairs in reverse order."""
    real = module.components
    mp.setattr(module, "components", lambda U, V, Ws, r: real(U, V, Ws, r)[:, ::-1])


def gd_stopped_early(mp, module):
    """GD run for a quarter of the configured steps (the claims still assert the configured budget)."""
    real = module.GD
    mp.setattr(module, "GD", lambda **kw: real(**{**kw, "n_steps": kw["n_steps"] // 4}))


def limit_moved_in_data(mp, module):
    """The data generated with σ × (1 + 1e-9): GD's limit σ/λ moves by 1e-9 relative, 1000× under the
    1e-6 tolerance the limit claim had before it was certified."""
    real = module.aligned
    mp.setattr(
        module, "aligned", lambda *, sigma, **kw: real(sigma=np.asarray(sigma) * (1 + 1e-9), **kw)
    )


def sigma_reversed_in_data(mp, module):
    """The data generated with σ in the reverse order to the one the predictions use."""
    real = module.aligned
    mp.setattr(module, "aligned", lambda *, sigma, **kw: real(sigma=np.asarray(sigma)[::-1], **kw))


def eps_as_variance(mp, module):
    """‖B‖₂ = √ε instead of ε (ε read as a variance): the perturbation no longer scales linearly."""
    real = module.aligned
    mp.setattr(module, "aligned", lambda *, eps=0.0, **kw: real(eps=float(np.sqrt(eps)), **kw))


MUTANTS: dict[str, list[Mutant]] = {
    "dmf_identical": [
        Mutant(
            "α ×10 in the simulation",
            scale_kwarg("DeepMatrix", "alpha", 10.0),
            kills=(r"scalar recursion \(7\)", r"time to reach"),
        ),
        Mutant(
            "perturbed init in place of αI", init_as("perturbed"), kills=(r"VΛ₊Vᵀ", r"λ=-5 → 0")
        ),
        Mutant(
            "eigenvectors in the wrong order",
            eigenbasis_reversed,
            kills=(r"λ=10 → 10", r"λ=7 → 7", r"λ=5 → 5", r"largest first"),
        ),
        Mutant(
            "scalar recursion (7) for depth N+1",
            depth_plus_one("scalar_recursion"),
            kills=(r"scalar recursion",),
        ),
    ],
    "dmf_perturbed": [
        Mutant(
            "identical init (β dropped)",
            init_as("identical"),
            kills=(r"floor", r"only after every positive"),
        ),
        Mutant(
            "depth N − 1 in the simulation", depth_minus_one, kills=(r"only after every positive",)
        ),
        Mutant("Thm 2.2's limit VΛ₊Vᵀ predicted", limit_as_identical, kills=(r"‖W\^\(K\) − Ŵ‖",)),
        Mutant("eigenvectors in the wrong order", eigenbasis_reversed, kills=(r"recovered",)),
        Mutant("problem (1) built from V|Λ|Vᵀ", data_from_wrong_target, kills=(r"problem \(1\)",)),
    ],
    "dmf_depth": [
        Mutant("perturbed init in place of αI", init_as("perturbed"), kills=(r"VΛ₊Vᵀ",)),
        Mutant(
            "flow times for depth N+1", depth_plus_one("flow_time_to_reach"), kills=(r"quadrature",)
        ),
    ],
    "dmf_effective_rank": [
        Mutant(
            "r = trace/λ_max (signed eigenvalues)",
            effective_rank_as(lambda e, s: e.sum() / e.max()),
            kills=(r"non-decreasing", r"ends at r"),
        ),
        Mutant(
            "r = ‖W‖_*/σ_min (singular values taken as ascending)",
            effective_rank_as(lambda e, s: s.sum() / s[-1]),
            kills=(r"drops",),
        ),
        Mutant(
            "α ×10 in the simulation",
            scale_kwarg("DeepMatrix", "alpha", 10.0),
            kills=(r"plateau at",),
        ),
        Mutant("identical init (β dropped)", init_as("identical"), kills=(r"ends at r",)),
    ],
    "dlr_sequential": [
        Mutant(
            "init scale e^{−δ/2}",
            delta_scaled(0.5),
            kills=(r"flow: W\(δs\)", r"gd: W\(δs\)", r"exact half time", r"vs T_i", r"bracket"),
        ),
        Mutant(
            "GD step η ×2 (still below 1/(2 max σ))",
            scale_kwarg("GD", "eta", 2.0),
            kills=(r"gd: W\(δs\)", r"bracket"),
        ),
        Mutant("L = 1 built with a hidden layer", one_layer_gets_a_hidden_layer, kills=(r"L = 1",)),
    ],
    "dlr_closed_form": [
        Mutant(
            "closed form with σ, λ swapped",
            roles_swapped_in_closed_form,
            kills=(r"closed form vs flow",),
        ),
        Mutant(
            "GD step η ×0.5",
            scale_kwarg("GD", "eta", 0.5),
            kills=(r"lower bound", r"upper bound"),
        ),
        Mutant("GD stopped at a quarter of its steps", gd_stopped_early, kills=(r"converges",)),
        Mutant("GD step η ×1.2", scale_kwarg("GD", "eta", 1.2), kills=(r"proved upper bound",)),
        Mutant("components in reverse order", components_reversed, kills=(r"converges",)),
        Mutant(
            "limit moved by 1e-9 (σ × (1 + 1e-9) in the data)",
            limit_moved_in_data,
            kills=(r"converges",),
        ),  # fmt: skip
    ],
    "dlr_autoencoder": [
        Mutant("init scale e^{−δ/2}", delta_scaled(0.5), kills=(r"L = 2: W → W",)),
        Mutant(
            "GD step η ×4 (overshoots)", scale_kwarg("GD", "eta", 4.0), kills=(r"never decreases",)
        ),
        Mutant("L = 1 built with a hidden layer", one_layer_gets_a_hidden_layer, kills=(r"L = 1",)),
    ],
    "dlr_robustness": [
        Mutant("init scale e^{−δ/2}", delta_scaled(0.5), kills=(r"quadrature",)),
        Mutant("σ reversed in the data", sigma_reversed_in_data, kills=(r"order of σ_i",)),
        Mutant("‖B‖₂ = √ε (ε read as a variance)", eps_as_variance, kills=(r"ε → 0",)),
    ],
}


@pytest.mark.parametrize("name", per_experiment(sorted(MUTANTS)))
def test_every_claim_is_failed_by_a_mutant(name):
    check_mutants(name, MUTANTS[name])
