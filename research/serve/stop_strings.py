"""What of a request's generated text a client may see: stop strings end it, and a tail that may
still become one (or a character the next token completes) waits for the next step, so streamed
text only ever grows and never shows a stop string."""

from collections.abc import Sequence


def visible_text(text: str, stop: Sequence[str], *, final: bool) -> tuple[str, bool]:
    """-> (the text a client may see now, whether a stop string ended it).

    Cut before the first stop string; while running, also hold back a tail that could be the
    start of a stop string, or a character the next token completes (decoded as U+FFFD)."""
    cuts = [text.find(s) for s in stop if s in text]
    if cuts:
        return text[: min(cuts)], True
    if final:
        return text, False
    hold = max((n for s in stop for n in range(1, len(s)) if text.endswith(s[:n])), default=0)
    visible = text[: len(text) - hold]
    return visible.rstrip("\ufffd"), False
