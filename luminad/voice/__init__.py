"""The real-time voice loop.

Pure, synchronous cores (no I/O, tested with lists):

- :mod:`~luminad.voice.audio`: PCM16 validation, streaming soxr resampling to 16 kHz, framing.
- :mod:`~luminad.voice.endpoint`: webrtcvad (RMS-energy fallback) endpointer with a hangover.
- :mod:`~luminad.voice.chunker`: sentence chunker for TTS (first clause early).
- :mod:`~luminad.voice.memory_policy`: "remember that ..." / "my name is ..." and the
  do-not-store filter for secrets.

Thin async stages (each a coroutine over a bounded queue, sending through the session):
:mod:`~luminad.voice.transcribe` (sliding-window partials, final pass),
:mod:`~luminad.voice.respond` (agent deltas -> chunker), :mod:`~luminad.voice.speak` (TTS ->
``tts_chunk`` + frame, paced); :mod:`~luminad.voice.turn` holds one turn's state and timings.

:mod:`~luminad.voice.session` wires them into one :class:`~luminad.voice.session.VoiceSession`
per client: a listening loop for the whole session, bounded audio queue, control lane, one task
per reply, barge-in as one cancel.
"""
