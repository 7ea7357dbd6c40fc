"""The browser tests' fixtures: the real service served by uvicorn on a loopback port (`live_server`),
Chromium from the system package manager for Playwright, and pages signed in as each role.

Chromium is Debian's (`/usr/bin/chromium`, installed by `scripts/ci-chromium` in CI); Playwright's own
browser download is not used. Its path comes from SCRUBBER_CHROMIUM, else `chromium` on PATH. Without it
the tests are skipped, saying why, except under CI (env CI set), where that is a failure.

Every test here is marked `ui` (select them with `-m ui`, leave them out with `-m "not ui"`).
Screenshots go to docs/screenshots/ when SCRUBBER_UI_SCREENSHOTS=1, else to the test's tmp_path.
"""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
ROLES = ("admin", "coder", "compliance", "submitter")
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.ui)


def chromium_path() -> str | None:
    return os.environ.get("SCRUBBER_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch arguments, pointed at the system Chromium; --no-sandbox: CI runs as root."""
    path = chromium_path()
    if path is None:
        reason = "no chromium: install Debian's `chromium` (scripts/ci-chromium) or set SCRUBBER_CHROMIUM"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {reason}", pytrace=False)
        pytest.skip(reason)
    args = [*browser_type_launch_args.get("args", []), "--no-sandbox", "--disable-dev-shm-usage"]
    return {**browser_type_launch_args, "executable_path": path, "args": args}


@dataclass(frozen=True)
class LiveServer:
    """The running service: its base URL, the audit store behind it and one API key secret per role."""

    url: str
    store: object
    keys: dict[str, str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, data_dir) -> Iterator[LiveServer]:
    """The real app (create_app) served by uvicorn in a background thread on a free loopback port, with
    its own SQLite audit store and the session's reference data (tests/conftest.py `data_dir`); one API
    key per role made through the store's key API, as `scrubber keys create` does."""
    import uvicorn  # here: only the browser tests serve over a socket

    from scrubber.audit.store import AuditStore
    from scrubber.service.app import create_app

    store = AuditStore(f"sqlite:///{tmp_path_factory.mktemp('ui-store') / 'scrubber.db'}")
    keys = {role: store.create_key(role, label=f"ui-test-{role}")[1] for role in ROLES}
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(store=store), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="ui-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start for the browser tests")
        time.sleep(0.05)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", store=store, keys=keys)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        store.close()


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    """pytest-playwright's base URL: `page.goto("/ui")` goes to the live server."""
    return live_server.url


@pytest.fixture()
def console_errors(page) -> list[str]:
    """Every console error and uncaught page error of the test's page, as text."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    return errors


@pytest.fixture()
def signed_in(page, live_server, console_errors) -> Callable[..., object]:
    """signed_in(role) -> the page, signed in at /ui with that role's key (its nav shown)."""
    def sign_in(role: str = "coder", hash: str = ""):
        page.goto(f"{live_server.url}/ui{hash}")
        page.get_by_label("API key").fill(live_server.keys[role])
        page.get_by_role("button", name="Sign in").click()
        page.get_by_test_id("nav").wait_for(state="visible")
        return page
    return sign_in


@pytest.fixture()
def screenshot(tmp_path) -> Callable[[object, str], Path]:
    """screenshot(page, "check") -> docs/screenshots/check.png when SCRUBBER_UI_SCREENSHOTS=1, else a
    file in the test's tmp_path."""
    def take(page, name: str) -> Path:
        folder = SCREENSHOTS if os.environ.get("SCRUBBER_UI_SCREENSHOTS") == "1" else tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
    return take
