"""The ``lumina`` command: a thin client of luminad over its Unix socket."""
