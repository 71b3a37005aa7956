"""Shared fixtures: one user per role, logged-in clients, factories for the registry."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API with live_server


def _user(username: str, role: str | None) -> User:
    user = User.objects.create_user(username=username, password=f"{username}-pass-123")
    if role:
        # get_or_create: transactional tests flush the groups the data migration made.
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.fixture
def viewer(db) -> User:
    return _user("vera", "viewer")


@pytest.fixture
def operator(db) -> User:
    return _user("otto", "operator")


@pytest.fixture
def admin_user(db) -> User:
    return _user("ada", "admin")


@pytest.fixture
def roleless(db) -> User:
    return _user("nobody", None)


def _client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer_client(viewer) -> Client:
    return _client_for(viewer)


@pytest.fixture
def operator_client(operator) -> Client:
    return _client_for(operator)


@pytest.fixture
def admin_client_(admin_user) -> Client:
    return _client_for(admin_user)


@pytest.fixture
def htmx_headers() -> dict:
    return {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's chromium (Playwright cannot download its own browser here), quiet on the network."""
    return {
        **browser_type_launch_args,
        "executable_path": os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Browser tests last: Playwright's sync API keeps an event loop running on the main thread for
    the rest of the session, and later tests that call asyncio.run() would fail."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture
def secret_dir(tmp_path, settings):
    """A directory the deployer allows secret files in (added to FLEET_SECRET_DIRS)."""
    path = tmp_path / "secrets"
    path.mkdir()
    settings.FLEET_SECRET_DIRS = (*settings.FLEET_SECRET_DIRS, str(path))
    return path
