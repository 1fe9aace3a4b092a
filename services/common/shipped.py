"""Files the services read from `deploy/`, found the same way in a checkout and in the wheel.

`deploy/` is the one source. The wheel carries the files the code reads at run time under
`services/_deploy/` (setup.py maps that package onto `deploy/`, pyproject.toml lists the
files), so an installed image needs no checkout beside it. From a checkout (editable
install, tests, `make run`) the files are read from `deploy/` itself.
"""

from __future__ import annotations

from pathlib import Path

CHECKOUT_DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy"
PACKAGED_DEPLOY_DIR = Path(__file__).resolve().parents[1] / "_deploy"


def deploy_dir() -> Path:
    """The installed copy when this code runs from a wheel, else the checkout's `deploy/`."""
    return PACKAGED_DEPLOY_DIR if PACKAGED_DEPLOY_DIR.is_dir() else CHECKOUT_DEPLOY_DIR


def shipped_file(relative: str) -> Path:
    """A file under `deploy/` by its path there, e.g. `shipped_file("kafka/topics.yaml")`."""
    return deploy_dir() / relative


def running_from_checkout() -> bool:
    """True when the code is imported from a source tree rather than an installed wheel."""
    return not PACKAGED_DEPLOY_DIR.is_dir() and CHECKOUT_DEPLOY_DIR.is_dir()
