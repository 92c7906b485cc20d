"""implicit-bias: the implicit bias of gradient methods in factorized models, checked against theory.

float64 is switched on here, in exactly one place: small initializations (1e-3 ... 1e-8) underflow
in float32. Set ``JAX_ENABLE_X64=0`` before importing to opt out.

Public names are imported lazily so that ``implicit-bias --help`` does not pay for importing JAX.
"""

import importlib
import os
import sys

__version__ = "0.1.0"


def _configure_jax() -> None:
    """float64 on; and one XLA host device per core, so that ``fit_batch`` can split a batch
    across the cores (a no-op if JAX was imported first or XLA_FLAGS already sets a count)."""
    if "jax" in sys.modules:
        if os.environ.get("JAX_ENABLE_X64", "1") not in ("0", "false", "False"):
            sys.modules["jax"].config.update("jax_enable_x64", True)
        return
    os.environ.setdefault("JAX_ENABLE_X64", "1")
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        os.environ["XLA_FLAGS"] = (
            f"{flags} --xla_force_host_platform_device_count={max(1, n or 1)}".strip()
        )


_configure_jax()

# name -> module that defines it (the public API, in one place)
_PUBLIC = {
    # engine
    "fit": "implicit_bias.optim",
    "fit_batch": "implicit_bias.optim",
    "GD": "implicit_bias.optim",
    "GradientFlow": "implicit_bias.optim",
    "SGD": "implicit_bias.optim",
    "Trajectory": "implicit_bias.optim",
    # problems: guessable constructors (problems/make.py), then the classes
    "full": "implicit_bias.problems.make",
    "completion": "implicit_bias.problems.make",
    "sensing": "implicit_bias.problems.make",
    "sparse": "implicit_bias.problems.make",
    "regression": "implicit_bias.problems.make",
    "linear": "implicit_bias.problems.make",
    "from_entries": "implicit_bias.problems.make",
    "from_matrices": "implicit_bias.problems.make",
    "FullObservation": "implicit_bias.problems.full",
    "symmetric_with_spectrum": "implicit_bias.problems.full",
    "random_target": "implicit_bias.problems.full",
    "MatrixCompletion": "implicit_bias.problems.completion",
    "MatrixSensing": "implicit_bias.problems.sensing",
    "random_sensing": "implicit_bias.problems.sensing",
    "Regression": "implicit_bias.problems.regression",
    "Linear": "implicit_bias.problems.linear",
    "make_sparse": "implicit_bias.problems.linear",
    # models
    "DeepMatrix": "implicit_bias.models.deep_matrix",
    "SymmetricFactor": "implicit_bias.models.symmetric",
    "ProductFlow": "implicit_bias.models.product_flow",
    "Hadamard": "implicit_bias.models.hadamard",
    "WeightNormalized": "implicit_bias.models.hadamard",
    "product": "implicit_bias.models.deep_matrix",
    "deep_linear": "implicit_bias.models.spectral",
    "spectral_init": "implicit_bias.models.spectral",
    # theory: the α → 0 limit path (saddles, jump times) of a problem × model
    "limit_path": "implicit_bias.theory.oracles",
    "LimitPath": "implicit_bias.theory.limit_path",
    # errors
    "ConfigError": "implicit_bias.errors",
    "DivergenceError": "implicit_bias.errors",
    "StepSizeWarning": "implicit_bias.errors",
}
# every module and subpackage of implicit_bias is an attribute, imported on first use
_SUBMODULES = {
    p.stem if p.suffix == ".py" else p.name
    for p in __import__("pathlib").Path(__file__).parent.iterdir()
    if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
}

__all__ = sorted(_PUBLIC) + sorted(_SUBMODULES)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"implicit_bias.{name}")
    raise AttributeError(f"module 'implicit_bias' has no attribute {name!r}")


def __dir__():
    return __all__
