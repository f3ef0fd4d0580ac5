"""The event store: eventsourcing's Application configured from Settings (SQLite or PostgreSQL)
with the privacy mapper that encrypts user content field by field."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper
from eventsourcing.utils import Environment, EnvType

from luminad.errors import LuminaError
from luminad.keystore import KeyStore
from luminad.privacy import PrivateMapper
from luminad.settings import Settings


class EventLog(Application[UUID]):
    """The eventsourcing Application underneath :class:`Lumina`: store, mapper, repository.

    (Lumina wraps it rather than subclassing it because Lumina's public ``events()`` query
    would shadow the Application's ``events`` event store.)
    """

    name = "Lumina"

    def __init__(self, env: dict[str, str], keys: KeyStore) -> None:
        self.keys = keys
        super().__init__(env)

    @classmethod
    def from_settings(cls, settings: Settings, keys: KeyStore) -> EventLog:
        # Cached aggregates (fast-forwarded from the store) spare every command the replay of
        # its conversation's history; Lumina evicts what a failed command touched.
        env = settings.store_env() | {
            "AGGREGATE_CACHE_MAXSIZE": "256",
            "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
        }
        if settings.store_encrypt:
            env |= {
                "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
                "CIPHER_KEY": keys.store_cipher_key(),
            }
        return cls(env, keys)

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """Only what Settings derived: the process environment never configures the store."""
        return Environment(name, dict(env or {}))

    def construct_mapper(self) -> Mapper[UUID]:
        return PrivateMapper(
            self.construct_transcoder(),
            self.keys,
            compressor=self.factory.compressor(),
            cipher=self.factory.cipher(),
        )


def ensure_postgres_schema(settings: Settings) -> None:
    """eventsourcing creates tables but not the schema they live in."""
    import psycopg
    from psycopg import sql

    env = settings.store_env()
    try:
        with psycopg.connect(
            host=env["POSTGRES_HOST"],
            port=int(env["POSTGRES_PORT"]),
            dbname=env["POSTGRES_DBNAME"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"],
            connect_timeout=5,
            autocommit=True,
        ) as conn:
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    sql.Identifier(env["POSTGRES_SCHEMA"])
                )
            )
    except psycopg.OperationalError as e:
        raise LuminaError(
            f"the PostgreSQL event store at {env['POSTGRES_HOST']}:{env['POSTGRES_PORT']} "
            f"is not reachable ({type(e).__name__})",
            action="Start PostgreSQL, or set LUMINA_STORE=sqlite.",
        ) from e
