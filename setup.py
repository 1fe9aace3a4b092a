"""Maps the `services._deploy` package onto `deploy/`; everything else is in pyproject.toml.

pyproject.toml cannot add a package from another directory beside `packages.find`, and the
wheel must carry the files the services read from `deploy/` (see services/common/shipped.py).
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["schemas*", "services*"]), "services._deploy"],
    package_dir={"services._deploy": "deploy"},
)
