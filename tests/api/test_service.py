"""`luminad install-service`: the LaunchAgent plist and the systemd user unit."""

from __future__ import annotations

import plistlib
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from luminad.service import (
    ENV_FILE_NAME,
    LABEL,
    install_service,
    read_env_file,
    render_plist,
    render_systemd_unit,
    service_env,
)
from luminad.settings import REPO_ROOT, load_settings


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")


def test_plist_is_valid_with_runatload_keepalive_and_logs(tmp_path: Path) -> None:
    logs = tmp_path / "Library" / "Logs" / "Lumina"
    raw = render_plist(
        python="/opt/lumina/.venv/bin/python",
        workdir=REPO_ROOT,
        log_dir=logs,
        env_file=Path("/x & <y>/service-env.json"),
    )
    plist = plistlib.loads(raw)
    assert plist["Label"] == LABEL
    assert plist["ProgramArguments"] == [
        "/opt/lumina/.venv/bin/python",
        *("-m", "luminad", "serve", "--env-file", "/x & <y>/service-env.json"),
    ]
    assert plist["RunAtLoad"] is True
    assert plist["KeepAlive"] is True
    assert plist["StandardOutPath"] == f"{logs}/luminad.log"
    assert plist["StandardErrorPath"] == f"{logs}/luminad.err.log"
    assert plist["EnvironmentVariables"] == {"PYTHONUNBUFFERED": "1"}


def test_template_in_repo_parses() -> None:
    template = REPO_ROOT / "launchd" / f"{LABEL}.plist"
    data = plistlib.loads(template.read_bytes())
    assert data["RunAtLoad"] and data["KeepAlive"]
    assert "Library/Logs/Lumina" not in data["StandardOutPath"]  # filled in at install time
    assert data["StandardOutPath"].startswith("@LOGDIR@")


def test_systemd_unit_content() -> None:
    unit = render_systemd_unit(
        python="/opt/lumina/.venv/bin/python",
        workdir=REPO_ROOT,
        env_file=Path("/home/u/.config/lumina/service-env.json"),
    )
    lines = unit.splitlines()
    assert "[Unit]" in lines and "[Service]" in lines and "[Install]" in lines
    assert (
        "ExecStart=/opt/lumina/.venv/bin/python -m luminad serve "
        "--env-file /home/u/.config/lumina/service-env.json"
    ) in lines
    assert "Restart=on-failure" in lines
    assert "WantedBy=default.target" in lines
    assert "KillSignal=SIGTERM" in lines


def test_service_env_keeps_only_lumina_settings() -> None:
    env = service_env({"LUMINA_HOME": "/h", "OLLAMA_HOST": "x:1", "SECRET": "no", "PATH": "/bin"})
    assert env == {"LUMINA_HOME": "/h", "OLLAMA_HOST": "x:1"}


def test_install_on_macos_writes_plist_and_bootstraps(tmp_path: Path) -> None:
    run = _Recorder()
    settings = load_settings({"LUMINA_HOME": str(tmp_path / "home")})
    assert install_service(settings, platform="darwin", home=tmp_path, run=run) == 0
    plist_path = tmp_path / "Library" / "LaunchAgents" / f"{LABEL}.plist"
    plist = plistlib.loads(plist_path.read_bytes())
    assert plist["RunAtLoad"] and plist["KeepAlive"]
    assert plist["StandardOutPath"].startswith(str(tmp_path / "Library" / "Logs" / "Lumina"))
    assert any(c[:2] == ["launchctl", "bootstrap"] for c in run.calls)
    assert install_service(settings, True, platform="darwin", home=tmp_path, run=run) == 0
    assert not plist_path.exists()


def test_install_on_linux_with_user_systemd(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr("luminad.service.shutil.which", lambda name: "/bin/systemctl")
    run = _Recorder()
    settings = load_settings({"LUMINA_HOME": str(tmp_path / "home")})
    assert install_service(settings, platform="linux", home=tmp_path, run=run) == 0
    unit_path = tmp_path / ".config" / "systemd" / "user" / "luminad.service"
    assert "-m luminad serve" in unit_path.read_text()
    assert ["systemctl", "--user", "enable", "--now", "luminad.service"] in run.calls
    assert install_service(settings, True, platform="linux", home=tmp_path, run=run) == 0
    assert not unit_path.exists()
    assert not (settings.config_dir / ENV_FILE_NAME).exists()


SECRETS = {
    "LUMINA_OPENAI_API_KEY": "sk-canary-7f3e9a",
    "LUMINA_STORE": "postgresql://lumina:pg-canary-41b2@127.0.0.1:5432/lumina",
}


@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_unit_and_plist_hold_no_secret_only_a_0600_env_file_does(
    tmp_path: Path, monkeypatch: Any, platform: str
) -> None:
    monkeypatch.setattr("luminad.service.shutil.which", lambda name: "/bin/systemctl")
    for key, value in {**SECRETS, "LUMINA_PORT": "9123"}.items():
        monkeypatch.setenv(key, value)
    settings = load_settings({"LUMINA_HOME": str(tmp_path / "home")})
    assert install_service(settings, platform=platform, home=tmp_path, run=_Recorder()) == 0
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    env_file = settings.config_dir / ENV_FILE_NAME
    service_files = [p for p in written if p.suffix in (".service", ".plist")]
    assert len(service_files) == 1
    text = service_files[0].read_text()
    assert str(env_file) in text
    for secret in ("sk-canary-7f3e9a", "pg-canary-41b2"):
        assert secret not in text
        holders = [p for p in written if secret in p.read_text(errors="replace")]
        assert holders == [env_file]
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert read_env_file(env_file)["LUMINA_STORE"] == SECRETS["LUMINA_STORE"]


def test_serve_applies_the_env_file_before_loading_settings(
    tmp_path: Path, monkeypatch: Any
) -> None:
    import os

    from luminad import __main__ as cli
    from luminad.service import write_env_file

    seen: dict[str, Any] = {}
    monkeypatch.setattr("luminad.api.server.serve", lambda s: seen.setdefault("s", s) and 0)
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if k != "LUMINA_PORT"})
    env_file = write_env_file(tmp_path / "env.json", {"LUMINA_PORT": "9321"})
    assert cli.main(["serve", "--env-file", str(env_file)]) == 0
    assert seen["s"].port == 9321


def test_without_user_systemd_it_starts_luminad_in_the_background(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    """Like this container: no user systemd, so `luminad serve` runs in the background."""
    import os
    import signal

    import httpx

    from tests.support.daemon import daemon_env

    env = daemon_env(tmp_path / "home")
    for key, value in env.items():
        if key.startswith("LUMINA_"):
            monkeypatch.setenv(key, value)
    settings = load_settings()

    def no_systemd(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, "", "Failed to connect to bus")

    pid_path = settings.data_dir / "luminad.pid"
    try:
        assert install_service(settings, platform="linux", run=no_systemd) == 0
        out = capsys.readouterr().out
        assert "background" in out and "luminad is ready" in out
        assert str(settings.data_dir / "luminad.log") in out
        transport = httpx.HTTPTransport(uds=str(settings.socket_path))
        with httpx.Client(transport=transport, base_url="http://localhost") as client:
            assert client.get("/v1/avatars").status_code == 200
        pid = int(pid_path.read_text())
        assert install_service(settings, True, platform="linux", run=no_systemd) == 0
        for _ in range(200):
            try:
                os.waitpid(pid, os.WNOHANG)
                os.kill(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError("the background daemon did not stop")
        assert not pid_path.exists()
    finally:
        if pid_path.exists():
            os.kill(int(pid_path.read_text()), signal.SIGKILL)
