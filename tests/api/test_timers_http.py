"""Timers over HTTP on the real daemon: list, cancel, and the error for an unknown one."""

from __future__ import annotations

import uuid

import pytest

from tests.support.daemon import Daemon

pytestmark = pytest.mark.e2e


def test_unknown_timer_is_timer_not_found(daemon: Daemon) -> None:
    with daemon.unix() as client:
        assert isinstance(client.get("/v1/timers").json(), list)
        for bad in (str(uuid.uuid4()), "not-an-id"):
            r = client.delete(f"/v1/timers/{bad}")
            assert r.status_code == 404 and r.json()["code"] == "timer_not_found"
