"""Progress and notes for long work: a rich progress display when one is active, silence otherwise.

Library code calls ``task(...)`` and ``note(...)``; the CLI decides whether anything is shown by
entering ``reporting()``. Nothing here is required for correctness.
"""

import contextlib
import contextvars
import logging

_active: contextvars.ContextVar = contextvars.ContextVar("implicit_bias_progress", default=None)
log = logging.getLogger("implicit_bias")


class _NullTask:
    def advance(self, n: float = 1.0) -> None:
        pass

    def update(self, **kwargs) -> None:
        pass


class _Task:
    def __init__(self, progress, task_id):
        self._progress, self._id = progress, task_id

    def advance(self, n: float = 1.0) -> None:
        self._progress.advance(self._id, n)

    def update(self, **kwargs) -> None:
        self._progress.update(self._id, **kwargs)


@contextlib.contextmanager
def reporting(console=None, *, transient: bool = True):
    """Show progress bars and notes on ``console`` (a rich Console) inside this block."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )
    token = _active.set(progress)
    try:
        with progress:
            yield progress
    finally:
        _active.reset(token)


@contextlib.contextmanager
def task(description: str, total: float | None):
    """A progress bar for one piece of work; a no-op when no reporter is active."""
    progress = _active.get()
    if progress is None:
        yield _NullTask()
        return
    task_id = progress.add_task(description, total=total)
    try:
        yield _Task(progress, task_id)
    finally:
        progress.remove_task(task_id)


def note(message: str) -> None:
    """A one-line remark for the user (which code path ran, which bound applies, ...)."""
    progress = _active.get()
    if progress is not None:
        progress.console.print(f"[dim]·[/dim] {message}")
    else:
        log.info(message)


def active() -> bool:
    """Whether a progress display is shown (``reporting``)."""
    return _active.get() is not None


_listener: list = [None]  # (task, label) of the flow reporting now: set by ``listening``


@contextlib.contextmanager
def listening(bar, label: str):
    """Route ``flow_tick`` (a host callback from inside a compiled solve, possibly on another
    thread, where context variables do not reach) to ``bar``."""
    _listener[0] = (bar, label)
    try:
        yield
    finally:
        _listener[0] = None


def flow_tick(t, loss, i) -> None:
    """A flow reached snapshot i at time t with loss L: the bar shows them."""
    current = _listener[0]
    if current is not None:
        bar, label = current
        bar.update(
            description=f"{label}: t = {float(t):.3g}, L = {float(loss):.3g}", completed=int(i) + 1
        )
