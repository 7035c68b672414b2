"""The tests' Redis: one throwaway server for the session (local_duel/bench/redis_server.py),
emptied for each test that asks for `redis_url`."""

import pytest
import redis

from local_duel.bench.redis_server import throwaway_redis


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The session's Redis, as a URL."""
    try:
        with throwaway_redis() as url:
            yield url
    except RuntimeError as e:
        pytest.fail(str(e))


def emptied(url: str) -> str:
    """The Redis at `url`, with nothing left from earlier tests."""
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    return url


@pytest.fixture
def redis_url(redis_server) -> str:
    """The session's Redis, emptied for this test."""
    return emptied(redis_server)
