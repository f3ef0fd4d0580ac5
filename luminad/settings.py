"""One frozen Settings for the whole daemon.

Built from defaults, then the optional ``lumina.toml`` in the config dir, then ``LUMINA_*``
environment variables (the environment wins). Nothing else in the code reads the environment
for configuration; the eventsourcing environment is derived here too (:meth:`Settings.store_env`).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, get_type_hints

import platformdirs

APP_NAME = "lumina"
REPO_ROOT = Path(__file__).resolve().parent.parent


def package_data(*parts: str) -> Path:
    """A file or dir shipped inside the ``luminad`` package: ``web/`` (the page), ``migrations/``,
    ``launchd/``, ``data/``, ``agent/intents/``. Found with importlib.resources, so the same in a
    wheel and in a checkout (where ``web``, ``migrations`` and ``launchd`` are links to the
    repository's own dirs)."""
    return Path(str(resources.files("luminad").joinpath(*parts)))


def _bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _runtime_dir() -> Path:
    """platformdirs' runtime dir, without its warning when XDG_RUNTIME_DIR is unset."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Path(platformdirs.user_runtime_dir(APP_NAME, ensure_exists=False))


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting of luminad. Field names map to ``LUMINA_<NAME>`` env vars and TOML keys."""

    #: One root for everything (data/, config/, cache/, run/ under it); unset: platformdirs.
    home: Path | None = None
    data_dir: Path = field(default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME)))
    config_dir: Path = field(default_factory=lambda: Path(platformdirs.user_config_dir(APP_NAME)))
    cache_dir: Path = field(default_factory=lambda: Path(platformdirs.user_cache_dir(APP_NAME)))
    runtime_dir: Path = field(default_factory=lambda: _runtime_dir())

    #: TCP listener. A non-loopback host is refused unless ``allow_lan`` is set.
    host: str = "127.0.0.1"
    port: int = 8765
    allow_lan: bool = False
    #: Extra browser origins allowed to call the API (comma separated in the env).
    allowed_origins: tuple[str, ...] = ()

    #: ``sqlite`` (a file in the data dir) or a ``postgresql://`` URL.
    store: str = "sqlite"
    #: Encrypt whole events at rest with eventsourcing's cipher (key kept in the key store).
    store_encrypt: bool = False
    #: Where the per-user data key lives: ``file`` (0600 in the config dir) or ``keyring``.
    key_store: str = "file"

    #: ``tiny.en`` (default), ``base``, or a path to a whisper.cpp ggml file.
    stt_model: str = "tiny.en"
    stt_threads: int = 2
    #: A Piper voice: ``joe`` (bundled) or a path to a ``.onnx`` file with its ``.onnx.json``.
    tts_voice: str = "joe"
    #: ``auto`` (Ollama when reachable with the model, else embedded), ``embedded``,
    #: ``ollama`` or ``openai``.
    llm: str = "auto"
    #: Model name for Ollama / the OpenAI-compatible server.
    llm_model: str = "llama3.2"
    #: The embedded model: empty or ``qwen`` (Qwen2.5-Coder-0.5B-Instruct, assembled once into the
    #: cache dir), ``smollm2`` (SmolLM2-135M-Instruct: fast, weaker), or a GGUF file.
    embedded_model: str = ""
    #: Offer the tools to the embedded model too (its chat template must have a tools section).
    #: Off: local intents run the commands, an extraction prompt keeps the facts.
    embedded_tools: bool = False
    ollama_host: str = "http://127.0.0.1:11434"
    openai_base_url: str = "http://127.0.0.1:8000/v1"
    openai_api_key: str = "not-needed"
    #: Tokens the LLM may write for one reply.
    max_reply_tokens: int = 96
    #: Memory search (`GET /v1/memories?q=`, `lumina memories search`) shows only memories at
    #: least this similar to the query (cosine, -1..1; unrelated text scores below ~0.2).
    memory_min_score: float = 0.25

    #: How an utterance ends: ``smart`` (the smart-turn model and the words judge each pause;
    #: a complete turn ends at once, else ``turn_hangover_ms`` of silence) or ``silence``
    #: (``vad_hangover_ms`` of silence, always).
    end_of_turn: str = "smart"
    #: Silence that ends an utterance the judge did not find complete (ms), with ``smart``.
    turn_hangover_ms: int = 1000
    #: Silence after speech that ends an utterance (ms), with ``end_of_turn=silence``.
    vad_hangover_ms: int = 500
    #: webrtcvad aggressiveness 0..3.
    vad_aggressiveness: int = 2
    #: Web search allowed at all (a session still has to switch internet mode on).
    internet: bool = False
    #: Search endpoint (SearXNG-compatible JSON API) used by the opt-in web-search tool.
    search_url: str = ""

    #: Serve the Wyoming protocol (Home Assistant) on ``host``:``wyoming_port`` (0: any free port).
    wyoming: bool = False
    wyoming_port: int = 10700
    #: ``wyoming-satellite``s to drive, as ``tcp://host:port`` (comma separated in the env).
    satellites: tuple[str, ...] = ()

    #: Where the web front end's static files are.
    web_dir: Path = field(default_factory=lambda: package_data("web"))
    log_level: str = "INFO"

    # ----------------------------------------------------------------- derived paths
    @property
    def socket_path(self) -> Path:
        """The Unix socket of the API."""
        return self.runtime_dir / "luminad.sock"

    @property
    def token_path(self) -> Path:
        return self.config_dir / "token"

    @property
    def keys_path(self) -> Path:
        return self.config_dir / "keys.json"

    @property
    def events_db_path(self) -> Path:
        return self.data_dir / "events.sqlite"

    @property
    def read_db_path(self) -> Path:
        return self.data_dir / "read.sqlite"

    @property
    def models_cache_dir(self) -> Path:
        return self.cache_dir / "models"

    @property
    def http_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def uses_postgres(self) -> bool:
        """True when the event store is a PostgreSQL server (``LUMINA_STORE=postgresql://...``)."""
        return self.store.startswith(("postgresql://", "postgres://"))

    def store_env(self) -> dict[str, str]:
        """The eventsourcing environment for this store setting."""
        env: dict[str, str]
        if self.uses_postgres:
            from urllib.parse import parse_qs, unquote, urlparse

            url = urlparse(self.store)
            schema = parse_qs(url.query).get("schema", ["lumina"])[0]
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": url.path.lstrip("/") or "lumina",
                "POSTGRES_HOST": url.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(url.port or 5432),
                "POSTGRES_USER": unquote(url.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(url.password or ""),
                "POSTGRES_SCHEMA": schema,
            }
        else:
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.events_db_path),
                "SQLITE_LOCK_TIMEOUT": "10",
            }
        return env

    def ensure_dirs(self) -> None:
        """Create the data, config, cache and runtime dirs with private permissions."""
        for d in (self.data_dir, self.config_dir, self.cache_dir, self.runtime_dir):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


#: Where each dir goes under ``LUMINA_HOME`` (an explicit ``LUMINA_<DIR>`` still wins).
HOME_LAYOUT = {
    "data_dir": "data",
    "config_dir": "config",
    "cache_dir": "cache",
    "runtime_dir": "run",
}


def _coerce(raw: Any, annotation: Any) -> Any:
    text = str(annotation)
    if "bool" in text:
        return _bool(raw)
    if annotation is int or text.startswith("int"):
        return int(raw)
    if annotation is float or text.startswith("float"):
        return float(raw)
    if "tuple" in text:
        if isinstance(raw, str):
            return tuple(x.strip() for x in raw.split(",") if x.strip())
        return tuple(raw)
    if "Path" in text:
        return Path(raw).expanduser() if raw not in (None, "") else None
    return str(raw)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from defaults, ``lumina.toml`` and ``LUMINA_*`` env, then ``overrides``."""
    env = os.environ if environ is None else environ
    hints = get_type_hints(Settings)
    values: dict[str, Any] = {}

    home = env.get("LUMINA_HOME")
    if home:
        root = Path(home).expanduser()
        values["home"] = root
        for name, sub in HOME_LAYOUT.items():
            values[name] = root / sub
    probe = Settings(**values)
    config_file = Path(env.get("LUMINA_CONFIG_FILE") or probe.config_dir / "lumina.toml")
    if config_file.is_file():
        with config_file.open("rb") as fh:
            for key, raw in tomllib.load(fh).items():
                if key in hints:
                    values[key] = _coerce(raw, hints[key])

    for f in fields(Settings):
        raw_env = env.get(f"LUMINA_{f.name.upper()}")
        if raw_env is not None:
            values[f.name] = _coerce(raw_env, hints[f.name])
    if "ollama_host" not in values and env.get("OLLAMA_HOST"):
        host = env["OLLAMA_HOST"]
        values["ollama_host"] = host if "://" in host else f"http://{host}"
    values.update(overrides)
    return Settings(**values)
