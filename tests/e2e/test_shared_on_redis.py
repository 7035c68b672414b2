"""What replicas share, kept in a real Redis (two clients standing for two replicas):
every test of tests/unit/test_shared.py runs here once more, on `InRedis` instead of
`InProcess`, so the embedded default and the cluster behave alike."""

import inspect

import pytest

import test_shared as in_process
from local_duel.core.shared import InRedis


@pytest.fixture(params=["redis"])
async def replicas(redis_url):
    """Two replicas' views of the shared state: two clients of the session's Redis, emptied."""
    a, b = InRedis(redis_url), InRedis(redis_url)
    yield a, b
    await a.close()
    await b.close()


globals().update({
    name: test for name, test in vars(in_process).items()
    if name.startswith("test_") and "replicas" in inspect.signature(test).parameters
})
