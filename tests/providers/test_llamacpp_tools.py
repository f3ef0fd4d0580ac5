"""The embedded model's tool calls: ``<tool_call>`` parsing, and Qwen choosing a tool."""

from __future__ import annotations

from pydantic_ai import Agent
from pydantic_ai.messages import ModelRequest, ToolCallPart, ToolReturnPart
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.tools import ToolDefinition

from luminad.providers.base import ChatMessage, ToolCall
from luminad.providers.llamacpp import EmbeddedLLM
from luminad.providers.llamacpp_model import LlamaCppModel, ToolCallParser, chat_messages

REMEMBER = ToolDefinition(
    name="remember",
    description="Store a fact the user wants you to remember.",
    parameters_json_schema={
        "type": "object",
        "properties": {"fact": {"type": "string"}},
        "required": ["fact"],
    },
)


def feed_all(deltas: list[str]) -> tuple[str, list[ToolCall]]:
    parser = ToolCallParser()
    text = "".join(parser.feed(d)[0] for d in deltas) + parser.finish()[0]
    return text, parser.calls


def test_plain_text_passes_through_as_it_comes() -> None:
    parser = ToolCallParser()
    assert parser.feed("Hello ") == ("Hello ", [])
    assert parser.feed("there.") == ("there.", [])
    assert parser.finish() == ("", [])


def test_a_call_split_over_many_deltas() -> None:
    block = (
        '<tool_call>\n{"name": "remember", "arguments": {"fact": "Ana is my sister"}}\n</tool_call>'
    )
    text, calls = feed_all([block[i : i + 3] for i in range(0, len(block), 3)])
    assert text == ""
    assert calls == [ToolCall("remember", {"fact": "Ana is my sister"})]


def test_text_around_calls_is_kept_and_markers_are_never_spoken() -> None:
    parser = ToolCallParser()
    spoken, calls = parser.feed("Sure. <tool")
    assert spoken == "Sure. " and calls == []  # "<tool" is held back: it may open a call
    spoken, calls = parser.feed('_call>{"name": "current_time", "arguments": {}}</tool_call> Done')
    assert spoken == " Done" and calls == [ToolCall("current_time", {})]
    assert parser.feed(" <toolbox>")[0] + parser.finish()[0] == " <toolbox>"


def test_two_calls_and_string_arguments() -> None:
    text, calls = feed_all([
        '<tool_call>{"name": "set_timer", "arguments": "{\\"seconds\\": 3}"}</tool_call>',
        '<tool_call>{"name": "list_timers"}</tool_call>',
    ])  # fmt: skip
    assert text == ""
    assert calls == [ToolCall("set_timer", {"seconds": 3}), ToolCall("list_timers", {})]


def test_broken_calls_are_dropped_not_spoken() -> None:
    text, calls = feed_all(["<tool_call>{not json}</tool_call>OK."])
    assert (text, calls) == ("OK.", [])
    text, calls = feed_all(['<tool_call>{"arguments": {}}</tool_call>'])
    assert (text, calls) == ("", [])


def test_a_call_cut_off_by_the_token_limit() -> None:
    assert feed_all(['<tool_call>{"name": "list_timers", "arguments": {}}'])[1] == [
        ToolCall("list_timers", {})
    ]
    assert feed_all(['<tool_call>{"name": "list_ti']) == ("", [])


def test_tool_results_reach_the_template() -> None:
    from pydantic_ai.messages import ModelResponse, TextPart, UserPromptPart

    msgs = chat_messages(
        [
            ModelRequest(parts=[UserPromptPart("Remember Ana is my sister.")]),
            ModelResponse(parts=[ToolCallPart("remember", {"fact": "Ana is my sister"}, "c1")]),
            ModelRequest(parts=[ToolReturnPart("remember", "stored", "c1")]),
            ModelResponse(parts=[TextPart("I will remember that.")]),
        ],
        "Be brief.",
    )
    assert [m.role for m in msgs] == ["system", "user", "assistant", "tool", "assistant"]
    assert msgs[0] == ChatMessage("system", "Be brief.")
    assert msgs[2].template_dict()["tool_calls"][0]["function"] == {
        "name": "remember",
        "arguments": {"fact": "Ana is my sister"},
    }
    assert msgs[3].content == "stored"


async def test_qwen_calls_the_offered_tool(qwen_llm: EmbeddedLLM) -> None:
    model = LlamaCppModel(qwen_llm)
    response = await model.request(
        [ModelRequest.user_text_prompt("Remember that my sister's birthday is on May third.")],
        {"max_tokens": 60},
        ModelRequestParameters(function_tools=[REMEMBER]),
    )
    (call,) = response.tool_calls
    assert call.tool_name == "remember"
    assert "may" in str(call.args_as_dict()["fact"]).lower()


async def test_agent_runs_the_tool_and_answers(qwen_llm: EmbeddedLLM) -> None:
    stored: list[str] = []
    agent = Agent(LlamaCppModel(qwen_llm), output_type=str)

    @agent.tool_plain
    def remember(fact: str) -> str:
        """Store a fact the user wants you to remember."""
        stored.append(fact)
        return "Stored."

    result = await agent.run(
        "Remember that my sister's birthday is on May third.",
        instructions="You are a voice assistant. Answer in one short sentence.",
        model_settings={"max_tokens": 60},
    )
    assert len(stored) == 1 and "may" in stored[0].lower()
    assert result.output.strip() and "<tool_call>" not in result.output


def test_a_reply_that_is_only_json_is_a_call() -> None:
    fenced = '```json\n{\n  "name": "remember",\n  "arguments": {"fact": "x"}\n}\n```'
    assert feed_all([fenced[i : i + 2] for i in range(0, len(fenced), 2)]) == (
        "",
        [ToolCall("remember", {"fact": "x"})],
    )
    assert feed_all(['{"name": "current_time", "arguments": {}}']) == (
        "",
        [ToolCall("current_time", {})],
    )
    assert feed_all(['{"name": "joke", "arguments": {"text": "a"}']) == (
        "",
        [ToolCall("joke", {"text": "a"})],
    )  # a closing brace left off
    assert feed_all(['{"name": "joke", "argu']) == ("", [])  # never spoken
    assert feed_all(["{not a call} but words"]) == ("{not a call} but words", [])
    assert feed_all(["`code` is fine"]) == ("`code` is fine", [])
