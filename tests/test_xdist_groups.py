"""The suite relies on ``--dist loadgroup`` (pyproject addopts): the tests of one ``xdist_group``
share a worker, hence the session's Dask cluster and each experiment's cached TINY run. pytest 9.2
broke that silently (pytest-dev/pytest-xdist#1386): every test ran wherever, each worker started its
own cluster and TINY runs were computed twice. This fails if grouping stops working again."""

import os

import pytest


@pytest.mark.xdist_group("dask")
def test_loadgroup_tags_a_grouped_test_with_its_group(request):
    if os.environ.get("PYTEST_XDIST_WORKER") is None or not request.config.getvalue("loadgroup"):
        pytest.skip("not on a pytest-xdist worker under --dist loadgroup")
    assert request.node.nodeid.endswith("@dask"), request.node.nodeid
