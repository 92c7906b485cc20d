"""The engine's ``jit``: jax.jit with probed XLA compile options (optim/jit.py)."""

import jax.numpy as jnp
import numpy as np

import implicit_bias  # noqa: F401  (float64 first)
from implicit_bias.optim import jit as jit_mod


def test_unknown_options_are_dropped_and_known_ones_kept(monkeypatch):
    monkeypatch.setattr(
        jit_mod, "CANDIDATES", {"xla_no_such_option_zz": "1", **jit_mod.CANDIDATES}
    )
    jit_mod.compiler_options.cache_clear()
    try:
        opts = jit_mod.compiler_options()
        assert "xla_no_such_option_zz" not in opts
        # what is kept compiles: the probe and a real call agree
        f = jit_mod.jit(lambda x: 2 * x)
        np.testing.assert_array_equal(np.asarray(f(jnp.arange(3.0))), [0.0, 2.0, 4.0])
    finally:
        jit_mod.compiler_options.cache_clear()


def test_decorator_forms_and_static_arguments_match_jax_jit():
    @jit_mod.jit(static_argnames=("k",))
    def power(x, k):
        return x**k

    @jit_mod.jit
    def twice(x):
        return x + x

    x = jnp.linspace(0.5, 2.0, 4)
    np.testing.assert_array_equal(np.asarray(power(x, k=3)), np.asarray(x**3))
    np.testing.assert_array_equal(np.asarray(twice(x)), np.asarray(2 * x))
    assert power.__wrapped__.__name__ == "power"  # functools.wraps: the source function


def test_batched_small_gd_is_identical_with_and_without_the_options():
    """The option changes how XLA fuses, not what is computed: a vmapped depth-3 GD on 4×4
    factors (the sweep's batched task) agrees with plain jax.jit to round-off, at a batch size past
    the YNNPACK threshold (64 members)."""
    import jax

    from implicit_bias.models.deep_matrix import mm

    def run(ps, W_hat, eta):
        def loss(p):
            W = mm(p[2], mm(p[1], p[0]))
            return 0.5 * jnp.sum((W - W_hat) ** 2)

        def step(_, p):
            return tuple(a - eta * g for a, g in zip(p, jax.grad(loss)(p)))

        return jax.lax.fori_loop(0, 200, step, ps)

    rng = np.random.default_rng(0)
    B = 96
    ps = tuple(jnp.asarray(0.1 * np.tile(np.eye(4), (B, 1, 1))) for _ in range(3))
    W_hat = jnp.asarray(rng.standard_normal((B, 4, 4)))
    eta = jnp.full((B,), 0.01)
    ours = jit_mod.jit(jax.vmap(run))(ps, W_hat, eta)
    plain = jax.jit(jax.vmap(run))(ps, W_hat, eta)
    for a, b in zip(ours, plain):
        # 200 steps of sums of 4 products: a few ulps of reassociation at most
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-12)
