"""``luminad install-service [--uninstall]``: start luminad at login.

* macOS: the LaunchAgent of ``launchd/com.lumina.luminad.plist`` (RunAtLoad, KeepAlive, logs in
  ``~/Library/Logs/Lumina``), bootstrapped with ``launchctl``.
* Linux: a systemd user unit ``~/.config/systemd/user/luminad.service``.
* Neither available (a container, WSL without systemd): ``luminad serve`` is started in the
  background with its log in the data dir, and we say so.

The ``LUMINA_*`` environment of the installing shell is carried into the service through
``<config dir>/service-env.json`` (mode 0600, read by ``luminad serve --env-file``): the unit
and the plist are world-readable, so they name that file and hold no value (an API key or a
password inside ``LUMINA_STORE`` would otherwise be readable by every local user).
"""

from __future__ import annotations

import contextlib
import json
import os
import plistlib
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from luminad.settings import Settings, package_data

LABEL = "com.lumina.luminad"
UNIT_NAME = "luminad.service"
PLIST_TEMPLATE = package_data("launchd", f"{LABEL}.plist")
READY_PREFIX = "luminad ready:"
ENV_FILE_NAME = "service-env.json"

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


def service_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings-relevant environment to carry into the service."""
    env = os.environ if environ is None else environ
    keep = {k: v for k, v in env.items() if k.startswith("LUMINA_") or k == "OLLAMA_HOST"}
    return dict(sorted(keep.items()))


def write_env_file(path: Path, env: Mapping[str, str]) -> Path:
    """The service's environment as a JSON object in ``path``, mode 0600 from the start."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(dict(env), indent=1, sort_keys=True).encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def read_env_file(path: Path) -> dict[str, str]:
    """The variables :func:`write_env_file` stored (``luminad serve --env-file``)."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    return {str(k): str(v) for k, v in data.items()}


def serve_command(python: str, env_file: Path) -> list[str]:
    """The service's command line."""
    return [python, "-m", "luminad", "serve", "--env-file", str(env_file)]


def render_plist(
    *,
    python: str,
    workdir: Path,
    log_dir: Path,
    env_file: Path,
    template: Path = PLIST_TEMPLATE,
) -> bytes:
    """The LaunchAgent plist (validated by parsing it back with plistlib); no secret in it."""
    text = template.read_text()
    for key, value in {
        "@PYTHON@": python,
        "@WORKDIR@": str(workdir),
        "@LOGDIR@": str(log_dir),
    }.items():
        text = text.replace(key, escape(value))
    data: dict[str, Any] = plistlib.loads(text.encode())
    data["ProgramArguments"] = serve_command(python, env_file)
    return plistlib.dumps(data)


def render_systemd_unit(*, python: str, workdir: Path, env_file: Path) -> str:
    """The systemd user unit; no secret in it."""
    lines = [
        "[Unit]",
        "Description=Lumina voice assistant daemon (luminad)",
        "",
        "[Service]",
        "Type=simple",
        "ExecStart=" + " ".join(shlex.quote(a) for a in serve_command(python, env_file)),
        f"WorkingDirectory={workdir}",
        "Environment=PYTHONUNBUFFERED=1",
        "Restart=on-failure",
        "RestartSec=2",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=30",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def user_systemd_available(run: Runner = subprocess.run) -> bool:
    """True when ``systemctl --user`` can talk to a user manager."""
    if shutil.which("systemctl") is None:
        return False
    try:
        result = run(
            ["systemctl", "--user", "show-environment"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


# ---------------------------------------------------------------------------- installers
def _launchd(settings: Settings, uninstall: bool, home: Path, run: Runner) -> int:
    agents = home / "Library" / "LaunchAgents"
    plist_path = agents / f"{LABEL}.plist"
    domain = f"gui/{os.getuid()}"
    run(["launchctl", "bootout", f"{domain}/{LABEL}"], capture_output=True, text=True)
    if uninstall:
        plist_path.unlink(missing_ok=True)
        (settings.config_dir / ENV_FILE_NAME).unlink(missing_ok=True)
        print(f"Removed the LaunchAgent {plist_path}; luminad no longer starts at login.")
        return 0
    log_dir = home / "Library" / "Logs" / "Lumina"
    log_dir.mkdir(parents=True, exist_ok=True)
    agents.mkdir(parents=True, exist_ok=True)
    env_file = write_env_file(settings.config_dir / ENV_FILE_NAME, service_env())
    plist_path.write_bytes(
        render_plist(
            python=sys.executable, workdir=settings.data_dir, log_dir=log_dir, env_file=env_file
        )
    )
    cmd = ["launchctl", "bootstrap", domain, str(plist_path)]
    result = run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        print(f"launchctl bootstrap failed: {result.stderr.strip()}", file=sys.stderr)
        return 1
    print(f"Installed the LaunchAgent {plist_path}: luminad runs now and at every login.")
    print(f"Logs: {log_dir}/luminad.log")
    return 0


def _systemd(settings: Settings, uninstall: bool, home: Path, run: Runner) -> int:
    unit_dir = home / ".config" / "systemd" / "user"
    unit_path = unit_dir / UNIT_NAME
    if uninstall:
        run(["systemctl", "--user", "disable", "--now", UNIT_NAME], capture_output=True, text=True)
        unit_path.unlink(missing_ok=True)
        (settings.config_dir / ENV_FILE_NAME).unlink(missing_ok=True)
        run(["systemctl", "--user", "daemon-reload"], capture_output=True, text=True)
        print(f"Removed {unit_path}; luminad no longer starts at login.")
        return 0
    unit_dir.mkdir(parents=True, exist_ok=True)
    env_file = write_env_file(settings.config_dir / ENV_FILE_NAME, service_env())
    unit_path.write_text(
        render_systemd_unit(python=sys.executable, workdir=settings.data_dir, env_file=env_file)
    )
    for cmd in (
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", UNIT_NAME],
    ):
        result = run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            print(f"{' '.join(cmd)} failed: {result.stderr.strip()}", file=sys.stderr)
            return 1
    print(f"Installed {unit_path}: luminad runs now and at every login.")
    print("Logs: journalctl --user -u luminad")
    return 0


def _pid_alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child that exited
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _background(settings: Settings, uninstall: bool, *, wait_s: float = 600.0) -> int:
    settings.ensure_dirs()
    pid_path = settings.data_dir / "luminad.pid"
    log_path = settings.data_dir / "luminad.log"
    old_pid = int(pid_path.read_text()) if pid_path.is_file() else None
    if uninstall:
        if old_pid is not None and _pid_alive(old_pid):
            os.kill(old_pid, signal.SIGTERM)
            print(f"Stopped the background luminad (pid {old_pid}).")
        else:
            print("No background luminad was running.")
        pid_path.unlink(missing_ok=True)
        return 0
    if old_pid is not None and _pid_alive(old_pid):
        print(f"luminad already runs in the background (pid {old_pid}); log: {log_path}")
        return 0
    log = log_path.open("ab")
    os.chmod(log_path, 0o600)
    proc = subprocess.Popen(
        [sys.executable, "-m", "luminad", "serve"],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        cwd=settings.data_dir,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log.close()
    pid_path.write_text(f"{proc.pid}\n")
    print(
        "No user systemd here, so luminad cannot start at login; "
        f"started it in the background instead (pid {proc.pid}), log: {log_path}"
    )
    start = log_path.stat().st_size
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"luminad exited with code {proc.returncode}; see {log_path}", file=sys.stderr)
            return 1
        with log_path.open("rb") as fh:
            fh.seek(max(0, start - 4096))
            if READY_PREFIX.encode() in fh.read():
                print("luminad is ready.")
                return 0
        time.sleep(0.5)
    print(f"luminad is still loading; follow {log_path}")
    return 0


def install_service(
    settings: Settings,
    uninstall: bool = False,
    *,
    platform: str = sys.platform,
    home: Path | None = None,
    run: Runner = subprocess.run,
) -> int:
    """Install (or remove) the login service for this platform; the exit code."""
    home = home or Path.home()
    if not uninstall:
        settings.ensure_dirs()  # the data dir is the service's working directory
    if platform == "darwin":
        return _launchd(settings, uninstall, home, run)
    if platform.startswith("linux") and user_systemd_available(run):
        return _systemd(settings, uninstall, home, run)
    return _background(settings, uninstall)


# ---------------------------------------------------------------------------- start / stop
def daemon_pid(settings: Settings) -> int | None:
    """The pid of the luminad that answers on our Unix socket (None when none does)."""
    from luminad.api.security import peer_credentials

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(2.0)
        sock.connect(str(settings.socket_path))
        pid, uid = peer_credentials(sock)
    except OSError:
        return None
    finally:
        sock.close()
    return pid if uid == os.getuid() else None


def service_manager(
    settings: Settings,
    *,
    platform: str = sys.platform,
    home: Path | None = None,
    run: Runner = subprocess.run,
) -> str:
    """Who starts luminad here: ``launchd``, ``systemd`` (an installed login service), or
    ``background`` (``luminad serve`` in the background, its log in the data dir)."""
    home = home or Path.home()
    if platform == "darwin" and (home / "Library" / "LaunchAgents" / f"{LABEL}.plist").is_file():
        return "launchd"
    unit = home / ".config" / "systemd" / "user" / UNIT_NAME
    if platform.startswith("linux") and unit.is_file() and user_systemd_available(run):
        return "systemd"
    return "background"


def stop_daemon(
    settings: Settings,
    *,
    platform: str = sys.platform,
    home: Path | None = None,
    run: Runner = subprocess.run,
    wait_s: float = 30.0,
) -> int:
    """Stop luminad however it was started (login service, background, a terminal)."""
    home = home or Path.home()
    manager = service_manager(settings, platform=platform, home=home, run=run)
    if manager == "systemd":
        run(["systemctl", "--user", "stop", UNIT_NAME], capture_output=True, text=True)
    elif manager == "launchd":
        run(["launchctl", "bootout", f"gui/{os.getuid()}/{LABEL}"], capture_output=True, text=True)
    pid = daemon_pid(settings)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait_s
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_alive(pid):
            print(f"luminad (pid {pid}) did not stop within {wait_s:.0f} s.", file=sys.stderr)
            return 1
    (settings.data_dir / "luminad.pid").unlink(missing_ok=True)
    stopped = pid is not None or manager != "background"
    print("Stopped luminad." if stopped else "luminad was not running.")
    return 0


def start_daemon(
    settings: Settings,
    *,
    platform: str = sys.platform,
    home: Path | None = None,
    run: Runner = subprocess.run,
) -> int:
    """Start luminad the way it is installed (its login service, else in the background)."""
    home = home or Path.home()
    if daemon_pid(settings) is not None:
        print("luminad is already running.")
        return 0
    manager = service_manager(settings, platform=platform, home=home, run=run)
    if manager == "systemd":
        cmd = ["systemctl", "--user", "start", UNIT_NAME]
    elif manager == "launchd":
        plist = home / "Library" / "LaunchAgents" / f"{LABEL}.plist"
        cmd = ["launchctl", "bootstrap", f"gui/{os.getuid()}", str(plist)]
    else:
        return _background(settings, False)
    result = run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        print(f"{' '.join(cmd)} failed: {result.stderr.strip()}", file=sys.stderr)
        return 1
    print(f"Started luminad ({manager}).")
    return 0
