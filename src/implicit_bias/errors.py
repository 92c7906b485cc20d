"""The errors and warnings the toolkit raises: each says what went wrong and what to change."""


class ConfigError(ValueError):
    """Bad input: wrong shapes, unknown config keys, impossible hyperparameters."""


class StepSizeWarning(UserWarning):
    """The step size is above a theorem's stable bound (an error under ``--strict``)."""


class BrokenRunWarning(UserWarning):
    """A stored run fails its manifest (a file truncated, deleted or garbled); it is skipped."""


class DivergenceError(RuntimeError):
    """A run produced NaN or inf. Carries the step, the last finite loss and the partial trajectory."""

    def __init__(self, message: str, *, step: int, last_loss: float, trajectory=None):
        super().__init__(message)
        self.step = step
        self.last_loss = last_loss
        self.trajectory = trajectory


class SolverError(RuntimeError):
    """An ODE or convex solver failed (status, residual or step budget); nothing silent."""


def check_step_size(eta: float, bound: float, name: str, *, strict: bool = False) -> None:
    """Warn (or raise under ``strict``) when ``eta`` is not below the theorem's ``bound``."""
    import warnings

    if eta < bound:
        return
    msg = f"step size eta={eta:g} is not below the stable bound {name} = {bound:.6g}"
    if strict:
        raise ConfigError(msg)
    warnings.warn(msg, StepSizeWarning, stacklevel=3)
