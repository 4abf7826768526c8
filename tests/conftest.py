"""Fixtures shared by the whole suite: one local Ray cluster per test session."""

from __future__ import annotations

import os

import pytest

# Before anything imports ray: smartfed sets what keeps a local Ray cluster on 127.0.0.1.
import smartfed  # noqa: F401

# The Jaeger OTLP backend fixture lives in its own module; tests/ is on sys.path as the root
# conftest's folder, so it loads as a plugin from here.
pytest_plugins = ["fixtures.jaeger"]


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray cluster bound to 127.0.0.1, shared by every test that needs one."""
    import ray
    from smartfed.federation.ray_runner import start_ray

    start_ray(num_cpus=os.cpu_count() or 2)
    yield ray
    ray.shutdown()
