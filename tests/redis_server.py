"""A real throwaway Redis for tests, from Debian's `redis-server` package (`scripts/setup
--test` installs it): started on a free loopback port with no persistence, stopped at
the end of the session. Nothing assumes a server already running."""

import shutil
import subprocess
import tempfile
import time

import port_for
import pytest
import redis

from local_duel.child import end


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The session's Redis, as a URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("Redis is not installed: `scripts/setup --test` installs Debian's redis-server")
    home, port = tempfile.mkdtemp(prefix="local-duel-redis-"), port_for.get_port(None)
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", home],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                end(process, patience=5)
                pytest.fail(f"redis-server did not start on port {port}")
            time.sleep(0.05)
    try:
        yield url
    finally:
        client.close()
        end(process, patience=5)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server) -> str:
    """The session's Redis, emptied for this test."""
    with redis.Redis.from_url(redis_server) as client:
        client.flushdb()
    return redis_server
