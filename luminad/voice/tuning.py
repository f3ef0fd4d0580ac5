"""The voice loop's tunables, in one object every stage reads when it needs a value."""

from __future__ import annotations

from dataclasses import dataclass

#: Frames (of any length) waiting for the intake; more are dropped and counted.
AUDIO_QUEUE_FRAMES = 128
#: Audio kept from before the detected start of speech (ms).
PREROLL_MS = 300
#: Silence (ms) after which the turn starts speculatively (its output waits for the endpoint),
#: with the fixed hangover (``LUMINA_END_OF_TURN=silence``).
PAUSE_MS = 150
#: The same with the end-of-turn judge: the speculative final pass is the words the judge reads,
#: so it starts as soon as the silence is longer than a gap between words (espeak-ng at 175 wpm:
#: 20-40 ms between words, 140-280 ms at a comma) and a complete turn ends ~200 ms after speech.
SMART_PAUSE_MS = 60
#: An utterance longer than this is ended by force (s).
MAX_UTTERANCE_S = 30.0
#: No partial pass starts after this much silence (ms): the final pass may need whisper soon.
PARTIAL_HOLD_SILENCE_MS = 20
#: Partial transcripts: cadence (s) and sliding window (s).
PARTIAL_INTERVAL_S = 0.2
PARTIAL_WINDOW_S = 2.5
#: Longest binary audio frame sent (s); a sentence is cut into frames this long.
TTS_FRAME_S = 0.5
#: How far reply audio may run ahead of real time (s); the rest waits, so a cancel drops it.
AUDIO_LEAD_S = 1.5
#: Memories above this similarity go into the reply context.
MEMORY_MIN_SCORE = 0.25
#: The most memories one turn's search recalls.
MEMORY_LIMIT = 5
#: Sentences waiting between the responder and the speaker.
SENTENCE_QUEUE = 16


@dataclass
class Tuning:
    """Per-session tunables (tests and the benchmark change them before ``start``)."""

    audio_lead_s: float = AUDIO_LEAD_S
    partial_interval_s: float = PARTIAL_INTERVAL_S
    partial_window_s: float = PARTIAL_WINDOW_S
    tts_frame_s: float = TTS_FRAME_S
    #: Silence (ms) after which the turn starts speculatively (fixed hangover; with the judge).
    pause_ms: int = PAUSE_MS
    smart_pause_ms: int = SMART_PAUSE_MS
    #: At session start, have the LLM read this avatar's system prompt once (one token), so the
    #: first reply does not pay for it (llama.cpp reuses the evaluated prefix).
    prime_llm: bool = True
