"""Guessable problem constructors: ``ib.full``, ``ib.completion``, ``ib.sensing``, ``ib.sparse``, ``ib.regression``.

Each one either draws a random instance (a target of a given size and rank, a uniform mask, a Gaussian
ensemble) or wraps the user's arrays, and returns the problem ``fit`` takes. They only choose between
the constructors of the problem modules (``full``, ``completion``, ``sensing``, ``linear``,
``regression``), which hold the checks and the formulas:

    ib.full(spectrum=[10, 7, 5, -5])              Ŵ = V diag(Λ) Vᵀ, every entry observed
    ib.completion(n=30, rank=2, observed=300)     m uniform entries of a random rank-2 X*
    ib.completion(X, entries=[(0, 1), (2, 2)])    the listed entries of the user's X
    ib.sensing(n=20, rank=2, m=200)               symmetric Gaussian measurements of a PSD X*
    ib.sparse(m=50, n=200, s=5)                   y = Ax, Gaussian A, s-sparse nonnegative x
    ib.sparse(A=A, y=y)                           the user's A and y
    ib.regression(X, Y)                           ½n⁻¹‖Y − XW‖²
"""

import jax.numpy as jnp
import numpy as np

from implicit_bias.errors import ConfigError
from implicit_bias.problems import (
    completion as _completion,
    full as _full,
    linear as _linear,
    sensing as _sensing,
)
from implicit_bias.problems.completion import MatrixCompletion, from_entries as from_entries
from implicit_bias.problems.full import FullObservation
from implicit_bias.problems.linear import Linear, linear as linear
from implicit_bias.problems.regression import regression as regression
from implicit_bias.problems.sensing import MatrixSensing, from_matrices as from_matrices


def _truth(X_star, n, n_cols, rank, psd, seed) -> np.ndarray:
    if X_star is not None:
        return np.asarray(X_star, dtype=np.float64)
    if n is None or rank is None:
        raise ConfigError("give the target X_star, or its size n (and n_cols) and rank to draw one")
    return _sensing.low_rank_truth(seed, n, rank, psd=psd, n_cols=n_cols)


def full(target=None, *, spectrum=None, shape=None, rank=None, seed: int = 0) -> FullObservation:
    """Every entry of Ŵ observed, loss ½‖W − Ŵ‖_F² (seed 000, eq. (3)).

    ``target``: the user's Ŵ; ``spectrum``: Ŵ = V diag(spectrum) Vᵀ with a random orthogonal V
    (symmetric); ``shape`` (and ``rank``): a general Gaussian Ŵ scaled to ‖Ŵ‖₂ = 1.
    """
    given = [x is not None for x in (target, spectrum, shape)]
    if sum(given) != 1:
        raise ConfigError("full: give exactly one of target, spectrum or shape")
    if target is not None:
        W = np.asarray(target, dtype=np.float64)
        if W.ndim != 2 or not np.isfinite(W).all():
            raise ConfigError(f"full: the target must be a finite matrix, got shape {W.shape}")
        return FullObservation(W_hat=jnp.asarray(W))
    if spectrum is not None:
        return _full.symmetric_with_spectrum(spectrum, seed=seed)
    return _full.random_target(seed, tuple(shape), rank=rank)


def completion(
    X_star=None,
    *,
    entries=None,
    values=None,
    observed: int | None = None,
    n: int | None = None,
    n_cols: int | None = None,
    rank: int | None = None,
    psd: bool = False,
    normalize: bool = False,
    seed: int = 0,
) -> MatrixCompletion:
    """Matrix completion: observe some entries of X*, loss ½ Σ_{(i,j)∈Ω} (X_ij − y_ij)².

    ``entries`` [(i, j), …] (and optionally their ``values``): the user's mask; else ``observed``
    entries drawn uniformly without replacement. X* is the user's ``X_star`` or a random rank-``rank``
    n × n_cols matrix (``psd``: G Gᵀ) with ‖X*‖_F = 1.
    """
    X = _truth(X_star, n, n_cols, rank, psd, seed)
    if entries is not None:
        return from_entries(X, entries, values=values, normalize=normalize)
    if observed is None:
        raise ConfigError("completion: give the mask (entries) or how many entries to observe")
    return _completion.random_completion(seed, X, observed, normalize=normalize)


def sensing(
    X_star=None,
    *,
    A=None,
    m: int | None = None,
    n: int | None = None,
    n_cols: int | None = None,
    rank: int | None = None,
    ensemble: str = "symmetric",
    psd: bool = True,
    seed: int = 0,
) -> MatrixSensing:
    """Matrix sensing y_i = ⟨A_i, X*⟩, loss ½ Σ_i (⟨A_i, X⟩ − y_i)² (seed 002).

    ``A`` (m × n × n_cols): the user's measurement matrices; else ``m`` from ``ensemble``
    ("symmetric" Gaussian, "general" Gaussian, "commuting"), scaled by 1/√m. X* as in ``completion``
    (PSD by default, as the model UUᵀ needs).
    """
    X = _truth(X_star, n, n_cols, rank, psd, seed)
    if A is not None:
        return from_matrices(A, X)
    if m is None:
        raise ConfigError("sensing: give the measurement matrices A or their number m")
    return _sensing.random_sensing(seed, X, m, ensemble=ensemble)


def sparse(
    A=None,
    y=None,
    *,
    m: int | None = None,
    n: int | None = None,
    s: int | None = None,
    signed: bool = False,
    noise: float = 0.0,
    seed: int = 0,
) -> Linear:
    """Sparse linear recovery, loss ½‖Az − y‖² (seed 003).

    ``A`` and ``y``: the user's; else a Gaussian m × n A (entries N(0, 1/m)), an s-sparse x
    (nonnegative unless ``signed``) and y = Ax + noise (ℓ2 norm ``noise``).
    ``problems.linear.make_sparse`` returns the ground truth x as well.
    """
    if A is not None or y is not None:
        if A is None or y is None:
            raise ConfigError("sparse: give both A and y (or neither, with m, n, s)")
        return linear(A, y)
    if m is None or n is None or s is None:
        raise ConfigError("sparse: give A and y, or the sizes m, n and the sparsity s")
    return _linear.make_sparse(m=m, n=n, s=s, signed=signed, noise=noise, seed=seed).problem
