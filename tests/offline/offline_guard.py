"""Fails any connection that leaves this machine, in this process and in child processes.

Allowed are loopback and this machine's own interface addresses (what `serve --lan`
answers on): the kernel delivers to those locally, so nothing reaches the network.

Installed in the test process by `conftest.py`, and in every Python child process (the
embedded llama.cpp engine, the CLI, the server) through `sitecustomize.py` on PYTHONPATH.
A refused attempt raises `PermissionError` and is appended to `$LOCAL_DUEL_OFFLINE_LOG`,
so a test fails even if the code under test swallows the error.
"""

import functools
import ipaddress
import os
import socket

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}
_installed = False


def _is_loopback(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if host is None or str(host).lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@functools.cache
def _own_addresses() -> frozenset:
    import psutil  # only once a non-loopback address is asked for

    return frozenset(
        ipaddress.ip_address(a.address.split("%")[0])
        for addresses in psutil.net_if_addrs().values()
        for a in addresses
        if a.family in (socket.AF_INET, socket.AF_INET6)
    )


def _is_local(host) -> bool:
    """Loopback, or an address of one of this machine's own interfaces (never a name)."""
    if _is_loopback(host):
        return True
    try:
        return ipaddress.ip_address(str(host.decode() if isinstance(host, bytes) else host).split("%")[0]) in _own_addresses()
    except ValueError:
        return False


def _refuse(what: str):
    log = os.environ.get("LOCAL_DUEL_OFFLINE_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {what}\n")
    raise PermissionError(f"offline guard: refused {what}")


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            _refuse(f"connection to {address!r}")

    def guarded_connect(self, address):
        check(self, address)
        return connect(self, address)

    def guarded_connect_ex(self, address):
        check(self, address)
        return connect_ex(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if not _is_local(host):
            _refuse(f"name lookup of {host!r}")
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded_connect
    socket.socket.connect_ex = guarded_connect_ex
    socket.getaddrinfo = guarded_getaddrinfo
