"""Fixtures of the host's tests: the embedded demo with consents to analytics, built once per
session into a directory that each test copies (`bilet_host.testing`)."""

import asyncio
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bilet_host.testing import DemoWorld, build_demo_world


@pytest.fixture(scope="session")
def built_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    var_dir = tmp_path_factory.mktemp("analytics-demo") / "var"
    return asyncio.run(build_demo_world(var_dir))


@pytest.fixture
def demo_world(built_demo: DemoWorld, tmp_path: Path) -> Iterator[DemoWorld]:
    """A copy of the demo for one test, with BVB_VAR_DIR pointing at it."""
    var_dir = tmp_path / "var"
    shutil.copytree(built_demo.var_dir, var_dir)
    before = os.environ.get("BVB_VAR_DIR")
    os.environ["BVB_VAR_DIR"] = str(var_dir)
    try:
        yield DemoWorld(var_dir, built_demo.covered, built_demo.consents)
    finally:
        if before is None:
            os.environ.pop("BVB_VAR_DIR", None)
        else:
            os.environ["BVB_VAR_DIR"] = before
