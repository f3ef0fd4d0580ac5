"""luminad: the Lumina daemon (event-sourced, local-first voice assistant)."""

__version__ = "0.1.0"
