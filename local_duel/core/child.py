"""Child processes (the embedded engine, a test's or the benchmark's server): a loopback
port for one to listen on, and ending one that may not want to go."""

import socket
import subprocess


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def end(process: subprocess.Popen, patience: float) -> None:
    """Terminate `process`, and kill it if it is still there after `patience` seconds."""
    process.terminate()
    try:
        process.wait(timeout=patience)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
