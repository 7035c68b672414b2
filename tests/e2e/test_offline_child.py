"""The offline guard in a child process: a Python child started by a test inherits it
(tests/offline/sitecustomize.py on PYTHONPATH), or the end-to-end tests' servers and
engines could reach past loopback unseen."""

import subprocess
import sys


def test_guard_is_active_in_child_processes(offline):
    code = "import socket; socket.create_connection(('192.0.2.1', 80), timeout=1)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0 and "offline guard: refused" in result.stderr
    lines = offline.read_text().splitlines()
    assert "192.0.2.1" in lines[-1]
    offline.write_text("\n".join(lines[:-1]) + ("\n" if lines[:-1] else ""))
