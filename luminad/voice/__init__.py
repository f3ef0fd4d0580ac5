"""The real-time voice loop.

Pure, synchronous cores (no I/O, tested with lists):

- :mod:`~luminad.voice.audio`: PCM16 validation, streaming soxr resampling to 16 kHz, framing.
- :mod:`~luminad.voice.endpoint`: webrtcvad (RMS-energy fallback) endpointer with a hangover.
- :mod:`~luminad.voice.chunker`: sentence chunker for TTS (first clause early).

Stages, each a small object owning its state, joined by the turn
(:mod:`~luminad.voice.turn`) and bounded queues: :mod:`~luminad.voice.intake` (resample, VAD,
endpoint), :mod:`~luminad.voice.transcribe` (partials, final pass), :mod:`~luminad.voice.runner`
(the turn in flight: words stored first, then the reply), :mod:`~luminad.voice.respond` (agent
-> chunker), :mod:`~luminad.voice.speak` (TTS -> paced frames); :mod:`~luminad.voice.outlet`
holds the send path and the session's tasks. :mod:`~luminad.voice.session` wires them into one
:class:`~luminad.voice.session.VoiceSession` per client; its docstring says where a frame is
at any moment. What the user asks to be done ("remember ...", "set a timer ...") is the
agent's: local intents first, then the model's tool calls (:mod:`luminad.agent`).
"""
