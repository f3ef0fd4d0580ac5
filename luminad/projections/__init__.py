"""Read models built from the event log, one module per model (conversations, memories,
avatars, profile, timings), the log view for people (``log``), and ``runner`` which applies
events to them, tracks positions and rebuilds them."""
