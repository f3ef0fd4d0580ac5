"""``lumina doctor`` and ``lumina open``: is the daemon healthy, and the web page's login link."""

from __future__ import annotations

import argparse

from lumina_cli.output import print_json, table
from lumina_cli.registry import Context, command
from lumina_cli.talk import default_device


def _doctor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--deep", action="store_true", help="also speak and listen (Piper -> whisper)")
    p.add_argument("--json", action="store_true")


@command("doctor", "what works, what does not, and what to do about it", _doctor_args)
def doctor(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        health = client.get("/v1/health", deep=1 if args.deep else None)
    audio = {"input": default_device("input"), "output": default_device("output")}
    if args.json:
        print_json(ctx, {**health, "audio_devices": audio})
        return 0 if health.get("ok") else 1
    engines = table("engine", "ok", "model", "detail", "action")
    for name, engine in sorted(health.get("engines", {}).items()):
        ok = "[green]yes[/green]" if engine.get("ok") else "[red]no[/red]"
        detail = engine.get("detail", "")
        timings = engine.get("timings_ms") or {}
        if timings:
            detail += " " + ", ".join(f"{k} {v:.0f} ms" for k, v in timings.items())
        engines.add_row(name, ok, engine.get("model", ""), detail, engine.get("action") or "")
    ctx.console.print(engines)
    ctx.console.print(
        f"microphone: {audio['input']}"
        if audio["input"]
        else "microphone: none found; speak from a recording with "
        "`lumina talk --wav question.wav`, or type with `lumina chat`",
        markup=False,
    )
    ctx.console.print(
        f"speaker: {audio['output']}"
        if audio["output"]
        else "speaker: none found; replies are shown as text, "
        "or saved with `lumina talk --wav question.wav --out reply.wav`",
        markup=False,
    )
    status = health.get("status", "ready")
    if health.get("deep_wer") is not None:
        ctx.console.print(f"deep check word error rate: {health['deep_wer']:.2f}")
    if health.get("ok"):
        ctx.console.print(f"[green]Lumina is {status} and healthy.[/green]")
        return 0
    ctx.console.print(f"[yellow]Lumina is {status}; see the actions above.[/yellow]")
    return 1


@command("open", "print a link that logs a browser in to Lumina's web page (once, for 2 min)")
def open_url(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.client() as client:
        link = client.request("POST", "/v1/login-links")
    print(link["url"])
    return 0
