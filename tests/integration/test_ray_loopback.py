"""The local Ray cluster must not listen beyond this machine."""

import os

import psutil


def listening_addresses(root: psutil.Process) -> dict[str, str]:
    """``host:port`` -> process name for every listening TCP socket of ``root`` and its children."""
    found = {}
    for process in [root, *root.children(recursive=True)]:
        try:
            connections = process.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # a worker that exited while we looked
        for conn in connections:
            if conn.status == psutil.CONN_LISTEN:
                found[f"{conn.laddr.ip}:{conn.laddr.port}"] = process.name()
    return found


def test_every_ray_listener_is_bound_to_loopback(ray_cluster):
    addresses = listening_addresses(psutil.Process(os.getpid()))
    assert addresses, "the Ray cluster should have listening sockets"
    outside = {a: name for a, name in addresses.items() if not a.startswith(("127.0.0.1:", "::ffff:127.0.0.1:"))}
    assert outside == {}
