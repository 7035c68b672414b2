"""A throwaway Redis from Debian's `redis-server` package, on a free loopback port with no
persistence: what the replicas' tests and `local-duel bench scale` share. Nothing
assumes a server already running."""

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

import redis

from local_duel.core.child import end, free_port


@contextlib.contextmanager
def throwaway_redis() -> Iterator[str]:
    """A Redis until the block ends, as a URL; RuntimeError if it can't start."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("Redis is not installed: `scripts/setup --test` installs Debian's redis-server")
    home, port = tempfile.mkdtemp(prefix="local-duel-redis-"), free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", home],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        with redis.Redis.from_url(url) as client:
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server did not start on port {port}") from None
                    time.sleep(0.05)
        yield url
    finally:
        end(process, patience=5)
        shutil.rmtree(home, ignore_errors=True)
