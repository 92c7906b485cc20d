"""The objective and its gradient: ``problem.loss(model(θ))`` and the model's pullback of ∇_X L.

The gradient is ``model.vjp(params)`` (hand-written chain rule, e.g. seed 000 eq. (4)) when the model
has one, ``jax.vjp`` otherwise; ``problem.grad`` when the problem has one, ``jax.grad(problem.loss)``
otherwise. Every method (GD, gradient flow, the reductions) steps along ``descent_direction``.
"""

import jax
from jaxtyping import Array, Float, PyTree


def identity(params):
    """The default ``observe``: record the parameters themselves."""
    return params


_identity = identity  # the old private name


def end_to_end_gradient(problem, X):
    """∇_X L(X): ``problem.grad`` if the problem writes it out, autodiff otherwise."""
    grad = getattr(problem, "grad", None)
    return grad(X) if grad is not None else jax.grad(problem.loss)(X)


def gradient(model, problem, params) -> PyTree:
    """∇_θ problem.loss(model(θ)) as the model's pullback of the end-to-end gradient."""
    vjp = getattr(model, "vjp", None)
    if vjp is not None:
        X, pullback = vjp(params)
        return pullback(end_to_end_gradient(problem, X))
    X, pullback = jax.vjp(model, params)
    return pullback(end_to_end_gradient(problem, X))[0]


def descent_direction(model, problem, params) -> PyTree:
    """∇L(θ), or ``model.precondition(θ, ∇L(θ))`` when the model defines one.

    The hook for flows that are not plain gradient flows of the parameters: different rates for
    different parameter groups (weight normalization, ṙ = −η_r ∂_r L), or a Riemannian metric (the
    end-to-end product flow of balanced factorizations). GD steps along it and gradient flow follows it.
    """
    g = gradient(model, problem, params)
    precondition = getattr(model, "precondition", None)
    return g if precondition is None else precondition(params, g)


def objective(model, problem, params) -> Float[Array, ""]:
    return problem.loss(model(params))


def sharpness(model, problem, params, k: int = 1):
    """The k largest eigenvalues λ_max ≥ … of the Hessian ∇²L(θ) of ``objective`` at ``params``
    (float64), by Lanczos (SciPy's ``eigsh``) on Hessian–vector products ``jax.jvp`` of the
    gradient — matrix-free; exact to eigsh's tolerance. GD with step η is linearly unstable at a
    point where λ_max > 2/η (Cohen et al. 2021, "edge of stability")."""
    import jax.numpy as jnp
    import numpy as np
    from jax.flatten_util import ravel_pytree
    from scipy.sparse.linalg import LinearOperator, eigsh

    flat, unravel = ravel_pytree(params)

    def grad(x):
        return ravel_pytree(jax.grad(lambda p: objective(model, problem, p))(unravel(x)))[0]

    hvp = jax.jit(lambda v: jax.jvp(grad, (flat,), (v,))[1])
    n = flat.size
    if n <= 2 * k + 1:  # too small for Lanczos: the dense Hessian
        H = np.asarray(jax.jacfwd(grad)(flat))
        return np.sort(np.linalg.eigvalsh(H))[::-1][:k]
    op = LinearOperator((n, n), matvec=lambda v: np.asarray(hvp(jnp.asarray(v, flat.dtype))),
                        dtype=np.float64)  # fmt: skip
    vals = eigsh(op, k=k, which="LA", return_eigenvectors=False, tol=1e-10)
    return np.sort(vals)[::-1]
