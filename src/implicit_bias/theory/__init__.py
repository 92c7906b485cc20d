"""Predictions from the theorems, one module per seed; each function's docstring cites its result."""


def __getattr__(name: str):
    """Submodules as attributes, imported on first use (PEP 562): ``ib.theory.sparse`` works in a fresh
    interpreter without importing every submodule up front."""
    import importlib
    import pkgutil

    if name in {m.name for m in pkgutil.iter_modules(__path__)}:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
