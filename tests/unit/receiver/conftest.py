"""Unit tests of the receiver package (extensions/receiver), importable without installing it."""
import asyncio
import os
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(REPO, "extensions", "receiver"))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402  pylint: disable=wrong-import-position

from incident_receiver.app import RECEIVER, make_app  # noqa: E402  pylint: disable=wrong-import-position
from incident_receiver.config import Config  # noqa: E402  pylint: disable=wrong-import-position

TOKEN = "unit-token"
LAB_ROUTES = os.path.join(REPO, "extensions", "receiver", "routes.yml")


@pytest.fixture
def make_config(tmp_path):
    """Config with the lab's routes (or `routes`), dispatch disabled (backend none), state under tmp."""
    def build(routes=None, **overrides):
        routes_path = LAB_ROUTES
        if routes is not None:
            routes_path = str(tmp_path / "routes.yml")
            with open(routes_path, "w") as fh:
                yaml.safe_dump(routes, fh)
        doc = {"repo": REPO, "routes": routes_path, "state_dir": str(tmp_path / "state"),
               "incidents_dir": str(tmp_path / "incidents"), "auth": {"token": TOKEN, "token_env": "NO_SUCH_VAR"},
               "dispatch": {"backend": "none"}}
        doc.update(overrides)
        return Config(doc, str(tmp_path))
    return build


@pytest.fixture
def serve():
    """serve(cfg, scenario): run `await scenario(client, receiver)` against the real aiohttp app."""
    def run(cfg, scenario):
        async def main():
            app = make_app(cfg)
            async with TestClient(TestServer(app)) as client:
                return await scenario(client, app[RECEIVER])
        return asyncio.run(main())
    return run
