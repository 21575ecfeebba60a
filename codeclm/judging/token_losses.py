"""Per-token losses of an answer, packed small enough to store in every record (the viewer shades them).

`pack` takes the answer tokens' (log-probability, start offset in the answer) and returns a short
ASCII string: "v1:" + base64 of, per token, the offset step from the previous token (a varint) and
the loss in tenths of a nat (one byte, capped at 25.4; 255 = no log-probability). About 2.7
characters per token: a 300-token answer adds ~0.8 kB to its record.
"""

from __future__ import annotations

import base64

VERSION = "v1:"
_NONE = 255
_CAP = 254


def pack(tokens: list[tuple[float | None, int]]) -> str:
    """Pack (log-probability, start offset) per token, in order."""
    out, previous = bytearray(), 0
    for logprob, start in tokens:
        step = max(0, start - previous)
        previous = max(previous, start)
        while step >= 0x80:
            out.append((step & 0x7F) | 0x80)
            step >>= 7
        out.append(step)
        out.append(_NONE if logprob is None else min(_CAP, max(0, round(-logprob * 10))))
    return VERSION + base64.b64encode(bytes(out)).decode("ascii")


def unpack(packed: str) -> list[tuple[float | None, int]]:
    """(loss in nats or None, start offset) per token; ValueError on a string `pack` did not make."""
    if not packed.startswith(VERSION):
        raise ValueError(f"not packed token losses (expected {VERSION!r} prefix)")
    data, tokens, start, i = base64.b64decode(packed[len(VERSION):], validate=True), [], 0, 0
    while i < len(data):
        step, shift = 0, 0
        while True:
            if i >= len(data):
                raise ValueError("packed token losses end inside a token")
            byte = data[i]
            i += 1
            step |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        if i >= len(data):
            raise ValueError("packed token losses end inside a token")
        start += step
        tokens.append((None if data[i] == _NONE else data[i] / 10, start))
        i += 1
    return tokens
