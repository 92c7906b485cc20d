"""Shared pieces of ``optim.saddles``: jitted derivatives of the parameter loss (cached per
model/problem structure and shapes), NumPy flattening, and which models have a special refinement."""

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from implicit_bias.optim.objective import end_to_end_gradient, objective

EPS = float(np.finfo(np.float64).eps)


@jax.jit
def _value(model, problem, params):
    return objective(model, problem, params)


@jax.jit
def _model_out(model, params):
    return model(params)


@jax.jit
def _model_outs(model, params):
    return jax.vmap(model)(params)


@jax.jit
def _loss_of(problem, X):
    return problem.loss(X)


@jax.jit
def _e2e_gradient(problem, X):
    return end_to_end_gradient(problem, X)


@jax.jit
def _flat_grad(model, problem, params):
    flat, unravel = ravel_pytree(params)
    return jax.grad(lambda x: objective(model, problem, unravel(x)))(flat)


@jax.jit
def _flat_derivs(model, problem, params):
    """(L, ∇L, ∇²L) in the flattened parameters (dense Hessian: small models only)."""
    flat, unravel = ravel_pytree(params)

    def f(x):
        return objective(model, problem, unravel(x))

    return f(flat), jax.grad(f)(flat), jax.hessian(f)(flat)


@jax.jit
def _flat_hvp(model, problem, params, v):
    flat, unravel = ravel_pytree(params)
    grad = jax.grad(lambda x: objective(model, problem, unravel(x)))
    return jax.jvp(grad, (flat,), (v,))[1]


def _np_tree(tree):
    return jax.tree.map(lambda x: np.asarray(x, dtype=np.float64), tree)


def _np_ravel(tree):
    """(flat NumPy vector, unravel) of a pytree of arrays, without JAX (no compilation per shape)."""
    leaves, treedef = jax.tree.flatten(tree)
    shapes = [np.shape(leaf) for leaf in leaves]
    sizes = [int(np.prod(sh)) for sh in shapes]
    flat = np.concatenate([np.ravel(np.asarray(leaf, dtype=np.float64)) for leaf in leaves])

    def unravel(x):
        parts = np.split(np.asarray(x, dtype=np.float64), np.cumsum(sizes)[:-1])
        return jax.tree.unflatten(treedef, [q.reshape(sh) for q, sh in zip(parts, shapes)])

    return flat, unravel


def _flat(tree) -> np.ndarray:
    return _np_ravel(tree)[0]


def _unflatten_like(tree, flat):
    return _np_ravel(tree)[1](flat)


def _is_hadamard(model, problem):
    from implicit_bias.models.hadamard import Hadamard
    from implicit_bias.problems.linear import Linear

    return isinstance(model, Hadamard) and isinstance(problem, Linear) and model.depth >= 2


def _factor_kind(model):
    from implicit_bias.models.deep_matrix import DeepMatrix
    from implicit_bias.models.symmetric import SymmetricFactor

    if isinstance(model, DeepMatrix) and model.depth >= 2:
        return "deep"
    if isinstance(model, SymmetricFactor):
        return "symmetric"
    return None
