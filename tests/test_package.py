"""``pip install .`` (not editable) gives a working ``luminad`` and ``lumina``: the wheel carries
the web page, the migrations, the launchd template, the tokenizer and the intent templates as
package data. The wheel is built from a copy of the source and installed into a fresh
virtualenv that borrows this venv's dependencies (nothing is downloaded), then its ``luminad
serve`` starts outside the checkout and serves the page.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from websockets.sync.client import unix_connect

from luminad.settings import REPO_ROOT
from tests.support.daemon import run_daemon

pytestmark = pytest.mark.e2e

#: Package data every install needs (paths inside the wheel).
PACKAGE_DATA = (
    "luminad/web/index.html",
    "luminad/web/js/main.js",
    "luminad/migrations/0001_read_models.sql",
    "luminad/launchd/com.lumina.luminad.plist",
    "luminad/data/tokenizer.json",
    "luminad/agent/intents/en.yaml",
)
_NOT_SHIPPED = shutil.ignore_patterns(
    ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", "tests", "bench", "docs"
)


def _build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    shutil.copytree(REPO_ROOT, src, symlinks=True, ignore=_NOT_SHIPPED)
    dist = tmp / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-build-isolation",
            "--no-deps",
            "-w",
            str(dist),
            str(src),
        ],
        check=True,
    )
    (wheel,) = dist.glob("lumina-*.whl")
    return wheel


def _fresh_venv(tmp: Path, wheel: Path) -> Path:
    """A new virtualenv with the wheel installed; dependencies come from this venv by a .pth."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = Path(
        subprocess.check_output(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_path('purelib'))",
            ],
            text=True,
        ).strip()
    )
    # a plain path line: this venv's own .pth files (our editable install) are not run
    (purelib / "borrowed_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
    )
    return venv


def test_wheel_installs_and_serves_the_page(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not [p for p in PACKAGE_DATA if p not in names], sorted(names)

    venv = _fresh_venv(tmp_path, wheel)
    env = {**os.environ, "PYTHONPATH": ""}
    where = subprocess.check_output(
        [str(venv / "bin" / "python"), "-c", "import luminad, lumina_cli; print(luminad.__file__)"],
        env=env,
        cwd=tmp_path,
        text=True,
    )
    assert Path(where.strip()).is_relative_to(venv), where
    assert (
        subprocess.run(
            [str(venv / "bin" / "lumina"), "--help"], env=env, capture_output=True
        ).returncode
        == 0
    )

    with (
        run_daemon(
            tmp_path / "home",
            env={"PYTHONPATH": ""},
            command=[str(venv / "bin" / "luminad"), "serve"],
            cwd=tmp_path,
        ) as daemon,
        daemon.http() as http,
    ):
        page = http.get("/")
        assert page.status_code == 200 and "<title>Lumina" in page.text
        assert http.get("/js/main.js").status_code == 200
        assert http.get("/v1/health").json()["status"] == "ready"
        # the read models (migrations) work: a memory round-trips
        assert http.post("/v1/memories", json={"text": "packaged note"}).status_code == 201
        assert [m["text"] for m in http.get("/v1/memories").json()] == ["packaged note"]
        # the intent templates came with it: a command is understood without the model
        with unix_connect(str(daemon.socket_path), uri="ws://localhost/v1/session") as ws:
            ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "test", "tts": False}))
            ws.send(json.dumps({"type": "text", "text": "Set a tea timer for 10 minutes."}))
            tools = []
            while True:
                message = json.loads(ws.recv(timeout=120))
                if message["type"] == "tool_call":
                    tools.append(message["name"])
                if message["type"] in ("assistant_done", "error"):
                    break
        assert tools == ["set_timer"], message
