"""Replay's context: a turn is found in the log and its context rebuilt as the read models stood
just before it, from the reply's record when there is one; deletions since stay deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from pydantic_ai.messages import ModelMessage, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel

from luminad import protocol
from luminad.agent.recorded import find_turn, folded, rebuild
from luminad.agent.replay import Replayer
from luminad.app import Lumina, open_lumina
from luminad.errors import LlmUnavailable, TurnNotFound
from luminad.projections.runner import ReadModels
from tests.domain.harness import FakeEmbedder, make_settings


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Lumina]:
    lumina = open_lumina(make_settings(tmp_path / "home"), FakeEmbedder())
    yield lumina
    lumina.close()


def no_recall(fold: ReadModels, text: str, avatar_id: UUID) -> list[protocol.Memory]:
    raise AssertionError("a recorded reply's memories come from its record")


def search_fold(fold: ReadModels, text: str, avatar_id: UUID) -> list[protocol.Memory]:
    from luminad.projections import memories

    vector = FakeEmbedder().embed([text])[0].astype("float32").tobytes()
    return memories.search(fold.conn, vector, str(avatar_id), 5)


def three_turns(app: Lumina) -> tuple[UUID, list[UUID], UUID]:
    """A conversation whose third turn recalled a memory (recorded with the reply)."""
    conversation = app.start_conversation()
    turns = []
    t1 = app.record_utterance(conversation, "My sister is called Ana.")
    app.complete_reply(conversation, t1, "Nice, Ana is a lovely name.")
    memory = app.remember("The user's sister is called Ana.", conversation_id=conversation)
    t2 = app.record_utterance(conversation, "I like green tea.")
    app.complete_reply(conversation, t2, "Green tea is great.")
    t3 = app.record_utterance(conversation, "What is my sister's name?")
    record = protocol.ReplyRecord(
        avatar_id=str(app.default_avatar_id),
        memories=[protocol.RecordedMemory(id=str(memory), score=0.61)],
        history=[str(t1), str(t2)],
        model="embedded:test",
        max_tokens=60,
    )
    app.complete_reply(conversation, t3, "Your sister is Ana.", record=record)
    turns = [t1, t2, t3]
    return conversation, turns, memory


def context_of(app: Lumina, turn_id: UUID, recall=no_recall):  # type: ignore[no-untyped-def]
    turn = find_turn(app, turn_id)
    with folded(app, turn.position - 1) as fold:
        return turn, rebuild(app, turn, fold, recall=recall, history_limit=20)


def test_the_third_turn_is_rebuilt_as_it_stood(app: Lumina) -> None:
    conversation, (t1, t2, t3), memory = three_turns(app)
    # what happens afterwards must not leak into the replayed context
    app.set_preferred_name("Sam")
    app.remember("The user's sister lives in Porto.", conversation_id=conversation)
    t4 = app.record_utterance(conversation, "Thanks!")
    app.complete_reply(conversation, t4, "You're welcome.")

    turn, rebuilt = context_of(app, t3)
    assert turn.user_text == "What is my sister's name?"
    assert turn.reply == "Your sister is Ana." and turn.record is not None
    assert turn.record.avatar_version == 1  # the app fills in the avatar's version
    described = rebuilt.described
    assert described.history == [str(t1), str(t2)] == turn.record.history
    assert [m.id for m in described.memories] == [str(memory)]
    assert described.memories[0].text == "The user's sister is called Ana."
    assert rebuilt.reply.memories == ["The user's sister is called Ana."]
    assert [m.content for m in rebuilt.reply.history] == [
        "My sister is called Ana.",
        "Nice, Ana is a lovely name.",
        "I like green tea.",
        "Green tea is great.",
    ]
    assert rebuilt.reply.preferred_name is None  # set after the turn
    assert rebuilt.differences == []


def test_a_turn_without_a_record_recalls_on_the_fold(app: Lumina) -> None:
    conversation = app.start_conversation()
    memory = app.remember("The user's sister is called Ana.")
    turn_id = app.record_utterance(conversation, "What is my sister called?")
    app.complete_reply(conversation, turn_id, "Ana.")
    app.remember("My sister is called Maria now.")  # later: not in the fold
    turn, rebuilt = context_of(app, turn_id, recall=search_fold)
    assert turn.record is None
    assert [m.id for m in rebuilt.described.memories] == [str(memory)]


def test_a_memory_deleted_since_is_reported_gone_not_used(app: Lumina) -> None:
    _, (_, _, t3), memory = three_turns(app)
    app.forget_memory(memory)
    _, rebuilt = context_of(app, t3)
    (gone,) = rebuilt.described.memories
    assert gone.id == str(memory) and gone.gone and gone.text == ""
    assert rebuilt.reply.memories == []
    assert rebuilt.differences == [f"memory {memory} was deleted since: left out"]


def test_unknown_and_forgotten_turns_are_not_found(app: Lumina) -> None:
    _, (_, _, t3), _ = three_turns(app)
    with pytest.raises(TurnNotFound):
        find_turn(app, uuid4())
    app.forget_user()
    with pytest.raises(TurnNotFound) as caught:
        find_turn(app, t3)
    assert caught.value.code == "turn_not_found"


def test_a_replay_writes_nothing(app: Lumina) -> None:
    _, (_, _, t3), _ = three_turns(app)
    before = app.recorder.max_notification_id()
    context_of(app, t3)
    assert app.recorder.max_notification_id() == before
    assert app.queries.verify_events().ok


class RecallingModel:
    """Calls ``recall`` once, then answers with what the tool said (a scripted tool caller)."""

    name = "scripted"
    model = "recaller"
    tool_calling = True

    def agent_model(self) -> FunctionModel:
        return FunctionModel(stream_function=self._stream, model_name=self.model)

    def failure(self, exc: Exception) -> LlmUnavailable:
        return LlmUnavailable(f"scripted model failed: {exc}")

    async def _stream(
        self, messages: list[ModelMessage], info: AgentInfo
    ) -> AsyncIterator[str | DeltaToolCalls]:
        returned = [p for p in messages[-1].parts if isinstance(p, ToolReturnPart)]
        if returned:
            yield f"From memory: {returned[0].content}"
        else:
            yield {0: DeltaToolCall(name="recall", json_args='{"query": "sister"}')}

    async def health(self) -> protocol.EngineHealth:
        return protocol.EngineHealth(ok=True, configured=True, reachable=True)


async def test_a_replayed_tool_call_gets_the_recorded_answer_and_runs_nothing(
    app: Lumina,
) -> None:
    conversation = app.start_conversation()
    memory = app.remember("The user's sister is called Ana.")
    turn_id = app.record_utterance(conversation, "What is my sister called?")
    app.call_tool(conversation, turn_id, "recall", {"query": "sister"}, "You told me: Ana.")
    record = protocol.ReplyRecord(model="scripted:recaller", tools_offered=["recall"])
    app.complete_reply(conversation, turn_id, "Your sister is Ana.", record=record)
    app.forget_memory(memory)  # the tool would find nothing now; the replay must not ask it
    before = app.recorder.max_notification_id()

    replayer = Replayer(app, app.settings, RecallingModel(), load=lambda s: RecallingModel())
    result = await replayer.replay(turn_id, protocol.ReplayRequest())

    recalled = protocol.ToolCallRecord(
        name="recall", arguments={"query": "sister"}, result="You told me: Ana."
    )
    assert result.recorded.tool_calls == [recalled]
    assert result.replayed.tool_calls == [recalled]
    assert result.replayed.text == "From memory: You told me: Ana."
    assert app.recorder.max_notification_id() == before
