"""Small helpers shared by the test layers (fixtures live in conftest.py)."""

from __future__ import annotations

import socket

# What the Dockerfile's build stage copies; the installed-wheel test builds from the same.
BUILD_CONTEXT = ("pyproject.toml", "setup.py", "README.md", "schemas", "services", "deploy")


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
