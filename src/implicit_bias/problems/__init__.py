"""What is observed: arrays, the measurement operator and the loss of the end-to-end object."""


def __getattr__(name: str):
    """Submodules as attributes, imported on first use (PEP 562): ``ib.problems.completion`` works in a fresh
    interpreter without importing every submodule up front."""
    import importlib
    import pkgutil

    if name in {m.name for m in pkgutil.iter_modules(__path__)}:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
