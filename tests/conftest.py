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
        user.groups.add(Group.objects.get(name=role))
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
