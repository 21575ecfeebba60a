"""Shared constants and helpers for the call-layer tests."""

from __future__ import annotations

SECRET = "sk-test-SECRET-0123456789abcdef"
ANSWER = "[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]"


class Sleeps(list):
    """A RetryPolicy.sleep that records waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def chat(lm, text: str = "hello", **kwargs):
    """One direct call, shaped the way DSPy adapters make it."""
    return lm.forward(messages=[{"role": "user", "content": text}], **kwargs)
