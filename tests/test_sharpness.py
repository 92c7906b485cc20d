"""``optim.objective.sharpness`` (Lanczos on Hessian–vector products) against the dense Hessian,
and the bound it gives a diverged explore question."""

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

import implicit_bias as ib
from implicit_bias import explore
from implicit_bias.optim.objective import objective, sharpness


def test_sharpness_is_the_top_of_the_dense_hessian_spectrum():
    problem = ib.completion(n=6, rank=2, observed=20, seed=0)
    model = ib.DeepMatrix(depth=3, n=6, init="gaussian", alpha=0.7)
    params = model.init_params(jax.random.key(1))
    flat, unravel = ravel_pytree(params)
    H = np.asarray(jax.hessian(lambda x: objective(model, problem, unravel(x)))(flat))
    dense = np.sort(np.linalg.eigvalsh(H))[::-1][:3]
    # eigsh's tol 1e-10 is relative to λ; the dense eigvalsh is exact to round-off (~1e-15 ‖H‖)
    np.testing.assert_allclose(sharpness(model, problem, params, k=3), dense, rtol=1e-8)


def test_a_diverged_question_names_the_bound_at_its_start(tmp_path):
    lines = []
    args = ["completion", "--n", "10", "--observed", "50", "--depth", "3", "--method", "gd",
            "--eta", "50", "--n-steps", "100", "--scale", "0.5", "--root", str(tmp_path)]  # fmt: skip
    assert explore.main(args, echo=lines.append) == 3
    text = " ".join(lines)
    assert "diverged at step" in text and "2/λ_max(∇²L(θ₀)) =" in text
    bound = float(text.split("2/λ_max(∇²L(θ₀)) = ")[1].split()[0])
    q = explore.question(problem="completion", n=10, observed=50, depth=3, method="gd", eta=0.5,
                         n_steps=100, scale=0.5)  # fmt: skip
    s = explore.setup(q)
    assert np.isclose(bound, 2 / sharpness(s.model, s.problem, s.params0)[0], rtol=1e-3)
