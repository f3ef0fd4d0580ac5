from tests.domain.harness import app, embedder, settings, store

__all__ = ["app", "embedder", "settings", "store"]
