"""Helpers shared by the test suites (the real daemon as a subprocess, speech, servers)."""
