"""Many runs in one ``vmap``: the vmap axes, stacking lists of members, splitting a batch over devices."""

from typing import NamedTuple

import jax
import numpy as np

from implicit_bias.errors import ConfigError


class Axes(NamedTuple):
    """vmap axes (0 or None) of model, problem, method and params0 in a batched run."""

    model: int | None = None
    problem: int | None = None
    method: int | None = None
    params: int | None = 0


def _member(tree, axis, i):
    return tree if axis is None else jax.tree.map(lambda x: x[i], tree)


def _split_over_devices(trees: list, size: int) -> tuple[list, int]:
    """Pad the batch to a multiple of the local CPU devices and shard its leading axis over them.

    On a CPU each XLA host device runs in its own thread, so a vmapped batch split over the devices
    uses every core (2× on two cores). Elsewhere, or with one device, the trees are returned as they are.
    A method with ``splits_over_devices = False`` (the implicit flow solvers) is never split: two XLA
    CPU devices running Kvaerno5's while loop side by side were pathologically slow (seed 3 of
    ``sensing_commuting``: > 10 min with the CPUs mostly idle, sharded or as two independent
    computations; 90 s on one device).
    """
    devices = jax.local_devices()
    if len(devices) < 2 or devices[0].platform != "cpu" or size < 2:
        return trees, size
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    padded = -(-size // len(devices)) * len(devices)
    sharding = NamedSharding(Mesh(np.array(devices), ("batch",)), PartitionSpec("batch"))

    def place(x):
        x = np.asarray(x)  # pad on the host: eager device ops on sharded arrays compile each time
        if padded > size:
            x = np.concatenate([x, np.repeat(x[:1], padded - size, axis=0)])
        return jax.device_put(x, sharding)

    return [None if t is None else jax.tree.map(place, t) for t in trees], padded


def _stack(x):
    """A list of pytrees becomes one pytree with a leading axis (axis 0); anything else is shared."""
    if isinstance(x, list):
        if not x:
            raise ConfigError("cannot batch over an empty list")
        # stacked on the host: one transfer, no per-batch-size compilation of a stack op
        return jax.tree.map(lambda *xs: np.stack([np.asarray(v) for v in xs]), *x), 0, len(x)
    return x, None, None


def solve_batch(model, problem, method, params0, observe, *, label: str | None = None):
    """Run ``method.solve`` once over a batch: lists among model, problem, method and params0 are
    stacked along a new leading axis (``params0`` may also be an already stacked pytree), single
    values are shared, and the batch is split over the local CPU devices.

    Returns the batched Trajectory as NumPy arrays (leading axis B). The caller checks shapes.
    """
    model_s, model_ax, n_model = _stack(model)
    problem_s, problem_ax, n_problem = _stack(problem)
    method_s, method_ax, n_method = _stack(method)
    params_s, _, n_params = _stack(params0)
    if n_params is None:  # an already stacked pytree
        n_params = jax.tree.leaves(params_s)[0].shape[0]
    sizes = {n for n in (n_model, n_problem, n_method, n_params) if n is not None}
    if len(sizes) != 1:
        raise ConfigError(
            "batched arguments must all have one length, got "
            f"model={n_model}, problem={n_problem}, method={n_method}, params0={n_params}"
        )
    size = sizes.pop()
    axes = Axes(model=model_ax, problem=problem_ax, method=method_ax, params=0)
    batched = [t if ax == 0 else None for t, ax in zip((model_s, problem_s, method_s), axes[:3])]
    first = method[0] if isinstance(method, list) else method
    if getattr(first, "splits_over_devices", True):
        (model_b, problem_b, method_b, params_s), padded = _split_over_devices(
            batched + [params_s], size
        )
    else:
        model_b, problem_b, method_b = batched
    model_s = model_b if model_ax == 0 else model_s
    problem_s = problem_b if problem_ax == 0 else problem_s
    method_s = method_b if method_ax == 0 else method_s
    label = label or f"{type(first).__name__} ×{size}"
    traj, _ = method_s.solve(model_s, problem_s, params_s, observe, axes=axes, label=label)
    # one transfer to the host: slicing members out of device arrays would compile per member
    return jax.tree.map(lambda x: np.asarray(x)[:size], traj)
