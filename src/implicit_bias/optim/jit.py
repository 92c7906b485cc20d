"""``jit``: ``jax.jit`` with the engine's XLA compile options, for its hot loops (GD, SGD, the exact
reduction, the flow, the dense Hessians).

The one option today: XLA's CPU backend (jaxlib 0.10) hands element-wise and reduce fusions to
YNNPACK (``__ynn_fusion``) once their arrays pass a size threshold. For the engine's small batched
models that is 8–9× slower per step: a vmapped depth-3 GD on 4×4 factors took 400 ns per run and
step at 64 or more members and 43–55 ns at 16–48 (1 core, jaxlib 0.10.2;
``benchmarks/bench_sweep.py``, whose batched sweep tasks are exactly this). Keeping YNNPACK for dots
only (``xla_cpu_experimental_ynn_fusion_type = "dot,individual_dot"``) gives 42 ns per run and step
at every batch size and leaves the BLAS-sized models as they were (``bench_gd.py``: n = 20 and
n = 100 within noise of the default; with YNNPACK off entirely they lose 20–35%).

The option is experimental in XLA and may be renamed or dropped: it is probed once, by compiling a
trivial function with it, and a jaxlib that refuses it gets plain ``jax.jit``. (``XLA_FLAGS`` would
reach every computation, but an unknown flag there aborts the process, which no probe can catch.)
"""

import functools as ft

import jax
import jax.numpy as jnp

CANDIDATES = {
    "xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_DOT,LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"
}


@ft.cache
def compiler_options() -> dict:
    """The options of ``CANDIDATES`` that this jaxlib accepts (each probed by one tiny compile)."""
    accepted = {}
    for key, value in CANDIDATES.items():
        try:
            jax.jit(lambda x: x + 1, compiler_options={key: value}).lower(jnp.zeros(2)).compile()
        except Exception:  # noqa: BLE001 - an unknown option, or a jax without compiler_options
            continue
        accepted[key] = value
    return accepted


def jit(fun=None, **jit_kwargs):
    """``jax.jit(fun, **jit_kwargs)`` compiled with ``compiler_options()``; usable as a decorator,
    bare or with arguments (``@jit(static_argnames=…)``). The options are probed at the first call,
    not at import."""
    if fun is None:
        return ft.partial(jit, **jit_kwargs)
    jitted = None

    @ft.wraps(fun)
    def call(*args, **kwargs):
        nonlocal jitted
        if jitted is None:
            options = compiler_options()
            jitted = jax.jit(fun, **jit_kwargs, **({"compiler_options": options} if options else {}))
        return jitted(*args, **kwargs)

    return call
