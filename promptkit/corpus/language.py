"""A tiny Spanish-or-English guess from function words (the two languages the project ships)."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-záéíóúñü]+")
_MARKERS = {
    "es": frozenset("el la los las de del que y en un una es por con para se su al como más "
                    "pero fue son este esta entre sus también".split()),
    "en": frozenset("the of and to in is that for it with as was on by are this an be from "
                    "which its were has have".split()),
}


def guess_language(text: str, default: str = "") -> str:
    """"es" or "en" by which language's common words occur more often; `default` on a tie."""
    words = _WORD.findall(text.lower())
    counts = {lang: sum(w in marks for w in words) for lang, marks in _MARKERS.items()}
    if counts["es"] == counts["en"]:
        return default
    return max(counts, key=counts.get)
