"""A semantic end of turn: has the user finished, judged from the words and the sound?

**Sound**: the smart-turn v3.2 model (Daily/pipecat, BSD-2-Clause, 8.7 MB, CPU ONNX) reads
whisper-style log-mel features of the last 8 s of 16 kHz audio (zero-padded in front) and gives
the probability that the speaker has finished their turn. The model file ships inside the
``pipecat-ai`` wheel, installed with ``--no-deps`` (nothing of pipecat is imported; the file is
found on disk through importlib and never downloaded); it runs on our onnxruntime, one thread.

**Words**: a sentence ending in a word that needs a continuation ("for", "and", "the", "to",
...) or on a comma, colon or dash is not finished, whatever the sound says (:func:`unfinished`),
and a question is whole. What these rules leave open (a statement, a command), a small language
model reads (:class:`~luminad.providers.text_turn.TextTurn`: P(the turn ends after these words)).

The rules come first (they are at hand once the speculative final transcript is, and cost
nothing), then the words' model: words it reads as surely whole end the turn, words it reads as
broken off hold it (:meth:`TurnJudge.by_words_model`). Between the two, :meth:`TurnJudge.verdict`
hears the sound too: the turn is complete when the words' model finds the words whole, or when
the sound is sure of an end and the words' model does not find them broken off. A complete turn
ends now, otherwise the session keeps listening (the long hangover then decides).
"""

from __future__ import annotations

import importlib.util
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from luminad.errors import ModelMissing
from luminad.providers.base import STT_SAMPLE_RATE, Pcm16
from luminad.providers.text_turn import TextTurn
from luminad.providers.threads import CORES, onnx_session

MODEL_FILE = Path("audio", "turn", "smart_turn", "data", "smart-turn-v3.2-cpu.onnx")
#: The model reads this much audio (s), the end of the utterance.
WINDOW_S = 8
_N_FFT = 400  # 25 ms windows
_HOP = 160  # 10 ms hop
_N_MELS = 80

#: Words after which a sentence cannot end (articles, prepositions, conjunctions, modals...).
CONTINUATIONS = frozenset(
    {
     "a", "an", "the", "and", "or", "but", "nor", "so", "because", "if", "when", "while",
     "whereas", "although", "though", "than", "that", "which", "who", "whom", "whose", "where",
     "to", "for", "of", "with", "without", "in", "on", "at", "by", "from", "about", "into",
     "onto", "over", "under", "after", "before", "between", "through", "during", "like", "as",
     "my", "your", "his", "her", "its", "our", "their", "this", "these", "those", "some", "any",
     "each", "every", "no", "can", "could", "would", "should", "will", "shall", "might", "must",
     "may", "am", "is", "are", "was", "were", "i", "we", "they", "he", "she", "it's",
     "i'm", "let's", "um", "uh", "er",
    }
)  # fmt: skip
#: P(end of turn) from which the words' model alone ends a turn the rules leave open. On the
#: hearings the rules leave open in ``bench/turn_judge.py`` (espeak-ng, each phrase heard at four
#: alignments on the frames), finished phrases scored 10^-9.8 to 10^-2.0 (median 10^-3.9) and
#: broken-off ones 10^-10 to 10^-3.6 (median 10^-8.1).
WORDS_END_P = 10**-5.5
#: P(end of turn) from which the words' model ends a turn at once, before the sound is heard
#: (the daemon asks the sound after the reply's first token, 0.3-0.9 s later). Words read whole
#: below it end the turn only then: a half sentence misheard as a whole one ("Remind me what we
#: talked about", heard as a full stop after a noun, 10^-5.4 in a voice run) was cut off in its
#: 600 ms thinking pause when the words' model alone ended it at once.
WORDS_SURE_P = 10**-4.5
#: P(complete) of the sound from which it is sure of an end ("Please stop." scores 10^-6.5 with
#: the words' model and 0.98 with the sound) ...
SURE_P = 0.9
#: ... when the words' model does not find the words broken off (P(end of turn) at least this).
WORDS_MAYBE_P = 1e-7
#: A word, a hyphenated one whole ("a run-in" is no sentence broken off after "in").
_WORD = re.compile(r"[A-Za-z0-9']+(?:-[A-Za-z0-9']+)*")
#: Endings that look unfinished word by word and are not ("Call me Sam from now on.").
_IDIOMS = (("from", "now", "on"), ("and", "so", "on"), ("come", "on"), ("hold", "on"))
#: An auxiliary then a subject, nothing else in the sentence, asks for more ("Could you?").
_AUXILIARIES = frozenset(
    {"can", "could", "would", "will", "shall", "should", "may", "might", "must", "do", "does",
     "did", "are", "is", "am", "was", "were", "have", "has", "had"}
)  # fmt: skip
_SUBJECTS = frozenset({"i", "we", "you", "they", "he", "she", "it"})
#: Punctuation a finished sentence does not stop on ("And one more thing:", "so, ").
_OPEN_PUNCTUATION = (",", ";", ":", "-", "–", "—", "…", "...")
#: A short statement opening with one of these announces more ("And one more thing.").
_LEAD_INS = frozenset({"and", "but", "so", "or", "also", "plus"})
_LEAD_IN_MAX_WORDS = 4


def unfinished(text: str) -> bool:
    """Whether ``text`` stops on a word that needs more words after it, or on a comma, colon,
    semicolon, dash or ellipsis, or is a short statement that opens with "and", "but", "so"...
    (the recogniser often writes "And one more thing:" with a full stop), or its last sentence
    is an auxiliary and a subject alone ("Could you?"). Numbers are words ("the square root of
    144?"), a capitalised "May" that does not open the sentence is the month, a question may end
    on its subject after the auxiliary ("How old am I?", "Where are we?"), and a few idioms end a
    sentence ("from now on")."""
    cased = _WORD.findall(text.replace("’", "'"))
    words = [w.lower() for w in cased]
    if not words:
        return False
    end = text.rstrip()
    lead_in = words[0] in _LEAD_INS and len(words) <= _LEAD_IN_MAX_WORDS and not end.endswith("?")
    last = _WORD.findall(re.split(r"[.!?…,;:]\s", end)[-1].lower())
    asks_more = len(last) == 2 and last[0] in _AUXILIARIES and last[1] in _SUBJECTS
    # a question whose subject follows its auxiliary at the end is whole ("How old am I?")
    inverted = (
        end.endswith("?") and len(last) > 2 and last[-2] in _AUXILIARIES and last[-1] in _SUBJECTS
    )
    month = cased[-1] == "May" and len(cased) > 1
    idiom = any(tuple(words[-len(i) :]) == i for i in _IDIOMS)
    continues = words[-1] in CONTINUATIONS and not (month or idiom or inverted)
    return continues or end.endswith(_OPEN_PUNCTUATION) or lead_in or asks_more


def model_path() -> Path:
    """The smart-turn ONNX file inside the installed ``pipecat-ai`` wheel."""
    spec = importlib.util.find_spec("pipecat")  # finds the package without importing it
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for base in locations:
        path = Path(base) / MODEL_FILE
        if path.is_file():
            return path
    raise ModelMissing(
        "the smart-turn end-of-turn model is not installed (it ships in the pipecat-ai wheel)",
        action="Rerun ./install.sh, or: .venv/bin/pip install --no-deps pipecat-ai==1.14.0 "
        "(or set LUMINA_END_OF_TURN=silence to end turns on silence alone).",
    )


# ---------------------------------------------------------------------- features
def _slaney_mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Hz -> mel on the Slaney scale (linear below 1 kHz, logarithmic above)."""
    mel = 3.0 * hz / 200.0
    log = hz >= 1000.0
    mel[log] = 15.0 + np.log(hz[log] / 1000.0) * 27.0 / np.log(6.4)
    return mel


def _slaney_hz(mel: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    hz = 200.0 * mel / 3.0
    log = mel >= 15.0
    hz[log] = 1000.0 * np.exp((mel[log] - 15.0) * np.log(6.4) / 27.0)
    return hz


def _mel_filters() -> npt.NDArray[np.float64]:
    """(n_fft/2+1, 80) triangular filters, area-normalised (whisper's filterbank)."""
    edges = _slaney_hz(
        np.linspace(0.0, float(_slaney_mel(np.array([STT_SAMPLE_RATE / 2.0]))[0]), _N_MELS + 2)
    )
    bins = np.linspace(0.0, STT_SAMPLE_RATE // 2, _N_FFT // 2 + 1)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins[:, None] - lower) / (centre - lower)
    falling = (upper - bins[:, None]) / (upper - centre)
    filters = np.clip(np.minimum(rising, falling), 0.0, None)
    return filters * (2.0 / (upper - lower))


_FILTERS = _mel_filters()
_HANN = np.hanning(_N_FFT + 1)[:-1]  # periodic


def log_mel(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Whisper-style log-mel features (80 x 800) of exactly 8 s of 16 kHz float audio: waveform
    normalised to zero mean and unit variance, centred 25 ms Hann frames every 10 ms, power
    spectrum, mel filters, log10 clipped to 8 decades below the peak, scaled by (x + 4) / 4."""
    x = audio.astype(np.float32)
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    padded = np.pad(x.astype(np.float64), _N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, _N_FFT)[::_HOP]
    power = np.abs(np.fft.rfft(frames * _HANN, axis=-1)) ** 2
    mel = np.log10(np.maximum(power @ _FILTERS, 1e-10)).T[:, :-1]
    mel = np.maximum(mel, mel.max() - 8.0)
    features: npt.NDArray[np.float32] = ((mel + 4.0) / 4.0).astype(np.float32)
    return features


def last_window(pcm: Pcm16) -> npt.NDArray[np.float32]:
    """The last 8 s of 16 kHz PCM16 as float audio, zero-padded in front to exactly 8 s."""
    n = WINDOW_S * STT_SAMPLE_RATE
    x = np.asarray(pcm[-n:], dtype=np.float32) / 32768.0
    return np.pad(x, (n - x.size, 0)) if x.size < n else x


# ---------------------------------------------------------------------- the model
class SmartTurn:
    """The smart-turn ONNX model (thread-safe; one inference at a time)."""

    def __init__(self, path: Path | None = None, *, threads: int = 1) -> None:
        self.path = path or model_path()
        self._session: Any = onnx_session(self.path, threads)
        self._lock = threading.Lock()

    def probability(self, pcm: Pcm16) -> float:
        """P(the speaker has finished) for an utterance of 16 kHz PCM16 (blocking)."""
        features = log_mel(last_window(pcm))[None, :, :]
        with self._lock, CORES.running(self):
            out = self._session.run(None, {"input_features": features})
        return float(np.asarray(out[0]).reshape(-1)[0])


@dataclass(frozen=True)
class TurnJudge:
    """The rules on the words first, then the words' model and the sound (see the module
    docstring)."""

    sound: SmartTurn
    words: TextTurn

    @staticmethod
    def by_words(text: str) -> bool | None:
        """What the final transcript alone says: a sentence stopping on a continuation word is
        unfinished; a whole question ("?" from the recogniser, on a word that can end one) is
        complete; anything else is for the words' model and the sound to judge."""
        if unfinished(text):
            return False
        if text.rstrip().endswith("?"):
            return True
        return None

    @staticmethod
    def by_words_model(words_p: float) -> bool | None:
        """What the words' model decides alone, before the sound is heard, from its P(end of
        turn) ``words_p``: words read as surely whole end the turn, words read as broken off
        hold it whatever the sound says; anything between waits for :meth:`verdict`."""
        if words_p >= WORDS_SURE_P:
            return True
        if words_p < WORDS_MAYBE_P:
            return False
        return None

    def verdict(self, sound_p: float, words_p: float, text: str) -> bool:
        """Complete or not, from the final transcript, P(complete) of the sound and P(end of
        turn) of the words' model."""
        rules = self.by_words(text)
        if rules is not None:
            return rules
        return words_p >= WORDS_END_P or (sound_p >= SURE_P and words_p >= WORDS_MAYBE_P)
