"""Pure functions from arrays to numbers: spectra, ranks, norms, errors, balancedness."""

import jax.numpy as jnp
from jaxtyping import Array, Float


def singular_values(W: Float[Array, "a b"]) -> Float[Array, " r"]:
    """σ_1 ≥ … ≥ σ_r of W."""
    return jnp.linalg.svd(W, compute_uv=False)


def eigenvalues_in_basis(W: Float[Array, "n n"], V: Float[Array, "n n"]) -> Float[Array, " n"]:
    """diag(Vᵀ W V): the eigenvalues of W when W is diagonal in the basis V (seed 000, Thm 2.2)."""
    return jnp.einsum("ij,ik,kj->j", V, W, V)


def nuclear_norm(W: Float[Array, "a b"]) -> Float[Array, ""]:
    """‖W‖_* = Σ σ_i."""
    return jnp.sum(singular_values(W))


def effective_rank(W: Float[Array, "a b"]) -> Float[Array, ""]:
    """r(W) = ‖W‖_* / ‖W‖₂, with 1 ≤ r(W) ≤ rank(W) (seed 000, §4)."""
    s = singular_values(W)
    return jnp.sum(s) / s[0]


def entropy_effective_rank(W: Float[Array, "a b"]) -> Float[Array, ""]:
    """exp(H(p)) with p_i = σ_i / Σ σ_j (Roy & Vetterli 2007, "The effective rank")."""
    s = singular_values(W)
    p = s / jnp.sum(s)
    plogp = jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)
    return jnp.exp(-jnp.sum(plogp))


def rel_error(W: Float[Array, "a b"], W_ref: Float[Array, "a b"]) -> Float[Array, ""]:
    """‖W − W_ref‖_F / ‖W_ref‖_F."""
    return jnp.linalg.norm(W - W_ref) / jnp.linalg.norm(W_ref)


def fro_error(W: Float[Array, "a b"], W_ref: Float[Array, "a b"]) -> Float[Array, ""]:
    """‖W − W_ref‖_F."""
    return jnp.linalg.norm(W - W_ref)


def balancedness(params) -> Float[Array, " k"]:
    """‖W_{j+1}ᵀ W_{j+1} − W_j W_jᵀ‖_F for j = 1 … N−1; conserved by gradient flow (Arora et al. 2018)."""
    if len(params) < 2:
        return jnp.zeros((0,))
    return jnp.stack(
        [
            jnp.linalg.norm(params[j + 1].T @ params[j + 1] - params[j] @ params[j].T)
            for j in range(len(params) - 1)
        ]
    )


def balancedness_matrices(params) -> list[Float[Array, "n n"]]:
    """W_{j+1}ᵀ W_{j+1} − W_j W_jᵀ for j = 1 … N−1 (each is constant along gradient flow)."""
    return [
        params[j + 1].T @ params[j + 1] - params[j] @ params[j].T for j in range(len(params) - 1)
    ]
