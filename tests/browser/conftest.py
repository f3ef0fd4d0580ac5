"""Fixtures of the browser tests (defined in web_harness.py)."""

from tests.browser.web_harness import browser, daemon, lumina_page, speech_wav

__all__ = ["browser", "daemon", "lumina_page", "speech_wav"]
