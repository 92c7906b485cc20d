"""``limit_path(problem, model)``: the α → 0 path from the oracle that covers a (problem, model) pair.

The oracles: ``theory.limit_path`` (the ``LimitPath`` type; diagonal networks, Pesme & Flammarion's
Algorithm 1) and ``theory.lowrank_path`` (greedy low-rank learning, the closed forms of seeds 000 and
004). This module sits above both (each oracle module imports only the type), so imports run one way.
"""

import numpy as np

from implicit_bias.errors import ConfigError
from implicit_bias.theory.limit_path import LimitPath, limit_path_diagonal


def limit_path(problem, model, **options) -> LimitPath:
    """The α → 0 path of ``model``'s gradient flow on ``problem``, from the oracle that covers them.

    * ``Hadamard`` (identical factors, depth ≥ 2) on ``Linear``: ``limit_path_diagonal`` (signed →
      "signed", else "positive"; its depth);
    * the low-rank families (``SymmetricFactor`` on sensing/completion: greedy low-rank learning;
      ``DeepMatrix`` on full observation and the spectral regression of seed 004: closed forms):
      ``implicit_bias.theory.lowrank_path``.

    A pair no oracle covers gets a ConfigError that lists the covered ones.
    """
    from implicit_bias.models.hadamard import Hadamard
    from implicit_bias.problems.linear import Linear
    from implicit_bias.theory import lowrank_path

    if isinstance(model, Hadamard) and isinstance(problem, Linear):
        if model.factors != "identical":
            raise ConfigError(
                "the diagonal limit path is for identical factors (factors='identical'); "
                "distinct factors from α1 follow the same path on the time scale t ↦ Nt"
            )
        return limit_path_diagonal(
            np.asarray(problem.A), np.asarray(problem.y),
            parametrization="signed" if model.signed else "positive", depth=model.depth,
            **options,
        )  # fmt: skip
    found = lowrank_path.dispatch(problem, model, **options)
    if found is not None:
        return found
    raise ConfigError(
        f"no limit-path oracle covers {type(model).__name__} on {type(problem).__name__}; covered: "
        "Hadamard (identical factors) on Linear, SymmetricFactor on MatrixSensing/MatrixCompletion/"
        "FullObservation, DeepMatrix on FullObservation, the spectral deep linear regression (seed 004)"
    )
