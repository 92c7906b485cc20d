"""Convex and closed-form comparisons (NumPy in, NumPy out): one module per kind of program.

cvxpy programs name their solver explicitly (``solver="SCS"``) and check its status and the constraint
residual: a solver failure is a ``SolverError``, never a silently wrong answer.
"""


def __getattr__(name: str):
    """Submodules as attributes, imported on first use (PEP 562): ``ib.baselines.nuclear`` works in a fresh
    interpreter without importing every submodule up front."""
    import importlib
    import pkgutil

    if name in {m.name for m in pkgutil.iter_modules(__path__)}:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
