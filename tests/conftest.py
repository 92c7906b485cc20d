"""Test configuration: float64 and strict rank promotion, switched on before anything else runs."""

import os

os.environ.setdefault("JAX_ENABLE_X64", "1")
# as implicit_bias does on import: two XLA host devices, so fit_batch's split over devices is tested
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    )

import jax  # noqa: E402
import matplotlib  # noqa: E402
import pytest  # noqa: E402

matplotlib.use("Agg")
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_addoption(parser):
    parser.addoption(
        "--runslow", action="store_true", default=False,
        help="also run the tests marked slow (e.g. reproduce at seeds 0-4, ~20 min on 2 cores)",
    )  # fmt: skip


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` are skipped (and say so) unless ``--runslow`` is given."""
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def dask_client():
    """One local Dask cluster (two single-threaded worker processes) shared by the sweep tests."""
    from distributed import Client

    from implicit_bias import sweep

    cluster = sweep.local_cluster(2)
    client = Client(cluster)
    client.wait_for_workers(2, timeout=120)
    yield client
    client.close()
    cluster.close()


def pytest_sessionfinish(session):
    """On a pytest-xdist worker: hand this worker's mutation score to the controller."""
    out = getattr(session.config, "workeroutput", None)
    if out is None:
        return
    from mutation import SCORE

    out["mutation_score"] = {n: (sorted(c), sorted(k)) for n, (c, k) in SCORE.items()}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """On the pytest-xdist controller: merge a finished worker's mutation score."""
    from mutation import SCORE

    for name, (claims, killed) in (
        getattr(node, "workeroutput", {}).get("mutation_score", {}).items()
    ):
        c, k = SCORE.get(name, (set(), set()))
        SCORE[name] = (c | set(claims), k | set(killed))


def pytest_terminal_summary(terminalreporter):
    """Print the mutation score: claims failed by at least one deliberate defect / all claims
    (merged over the pytest-xdist workers when the suite runs in parallel)."""
    try:
        from mutation import SCORE
    except ImportError:
        return
    if not SCORE:
        return
    total = sum(len(c) for c, _ in SCORE.values())
    killed = sum(len(k & c) for c, k in SCORE.values())
    terminalreporter.write_sep("-", "mutation score")
    for name, (c, k) in sorted(SCORE.items()):
        terminalreporter.write_line(
            f"{name:28s} {len(k & c):3d}/{len(c):3d} claims failed by a mutant"
        )
    pct = 100.0 * killed / total if total else 100.0
    terminalreporter.write_line(
        f"mutation score: {killed}/{total} claims have a failing mutant ({pct:.1f}%) "
        f"over {len(SCORE)} experiments"
    )


def one_run_store(root):
    """A store with one hand-written ``dmf_identical`` run (nothing computed): for the tests of
    the store's readers (query lock-down, output paths)."""
    import pandas as pd

    from implicit_bias import store

    store.write_run(
        root / "dmf_identical" / "0123456789abcdef",
        config={"experiment": "dmf_identical", "hash": "0123456789abcdef",
                "config": {"alpha": 0.1, "depth": 3}, "status": "ok", "created": 1.0,
                "checks_passed": 1, "checks_failed": 0},
        rows=pd.DataFrame({"t": [0.0, 1.0], "series": "loss", "i": 0, "value": [1.0, 0.5]}),
        checks=[{"name": "c", "predicted": 1.0, "observed": 1.0, "tolerance": 0.1, "passed": True}],
    )  # fmt: skip
    return root
