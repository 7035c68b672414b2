"""The offline guard itself, in this process: it must refuse, or the end-to-end tests prove
nothing (that it is active in child processes too: tests/e2e/test_offline_child.py)."""

import pytest

import offline_guard


def test_guard_refuses_a_non_loopback_address_in_process(offline):
    import socket

    with pytest.raises(PermissionError), socket.socket() as s:
        s.connect(("192.0.2.1", 80))  # TEST-NET-1: refused before any packet leaves
    with pytest.raises(PermissionError):
        socket.getaddrinfo("example.org", 443)
    lines = offline.read_text().splitlines()
    assert "192.0.2.1" in lines[-2] and "example.org" in lines[-1]
    offline.write_text("\n".join(lines[:-2]) + ("\n" if lines[:-2] else ""))  # expected refusals


def test_guard_allows_loopback():
    assert offline_guard._is_loopback("127.0.0.1") and offline_guard._is_loopback("::1")
    assert offline_guard._is_loopback("localhost") and not offline_guard._is_loopback("10.0.0.1")


def test_guard_allows_this_machine_own_addresses_but_no_other():
    """`serve --lan` is reached on the machine's own LAN address, which the kernel delivers
    locally; a neighbour on the same network is still refused."""
    own = [str(a) for a in offline_guard._own_addresses() if not a.is_loopback]
    assert all(offline_guard._is_local(a) for a in own)
    assert not offline_guard._is_local("192.0.2.1") or "192.0.2.1" in own
    assert not offline_guard._is_local("example.org")
