"""The words of the utterance being spoken, as the end-of-turn judge reads them.

:class:`Words` is what the intake's judge asks of the rest of the session (the transcript at
hand or the final one, the reply's first token, a hold on the reply while the words' model
reads); :class:`SpokenWords` answers from the turn runner's speculative turn and the
transcriber's partials.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

if TYPE_CHECKING:
    from luminad.voice.runner import TurnRunner
    from luminad.voice.transcribe import Transcriber
    from luminad.voice.turn import Turn


class Words(Protocol):
    """The words of the utterance being spoken, for the end-of-turn judge."""

    def now(self, turn_id: UUID) -> tuple[str, bool]:
        """The best text at hand and whether it is the final transcript."""
        ...

    async def final(self, turn_id: UUID) -> str:
        """The final transcript of the speculative turn (waits for it)."""
        ...

    async def thought(self, turn_id: UUID) -> None:
        """Returns once the speculative turn's reply has its first token (the LLM evaluated
        its prompt), or no reply comes."""
        ...

    def hold(self, turn_id: UUID) -> Callable[[], None]:
        """The speculative turn's reply computes nothing until the returned function is
        called (the judge's words' model reads its words first)."""
        ...


class SpokenWords:
    """The words the end-of-turn judge reads: the speculative turn's final transcript of the
    utterance when it is there, else the latest partial."""

    def __init__(self, turns: TurnRunner, transcriber: Transcriber) -> None:
        self._turns = turns
        self._transcriber = transcriber

    def _turn(self, turn_id: UUID) -> Turn | None:
        turn = self._turns.current
        return turn if turn is not None and turn.turn_id == turn_id else None

    def now(self, turn_id: UUID) -> tuple[str, bool]:
        turn = self._turn(turn_id)
        if turn is not None and turn.transcribed.is_set():
            return turn.text, True
        return self._transcriber.partial_text, False

    async def final(self, turn_id: UUID) -> str:
        turn = self._turn(turn_id)
        if turn is None:
            return self._transcriber.partial_text
        await turn.transcribed.wait()
        return turn.text

    async def thought(self, turn_id: UUID) -> None:
        turn = self._turn(turn_id)
        if turn is not None:
            await turn.first_token.wait()

    def hold(self, turn_id: UUID) -> Callable[[], None]:
        turn = self._turn(turn_id)
        if turn is None:
            return lambda: None
        turn.judge_idle.clear()
        return turn.judge_idle.set
