"""Finding English left in a Chinese text: runs of three or more English words.

Field values a reader expects as written (VM ids, rule codes, units like vCPU, JSON evidence
keys such as ``billed_quantity``) are single tokens, never three words in a row."""

from __future__ import annotations

import re

# three words of letters in a row, separated by spaces (a hyphenated id is one token)
_SENTENCE = re.compile(r"[A-Za-z]{2,}(?:[,;:'()]*\s+[,;:'()]*[A-Za-z]{2,}){2,}")


def english_sentences(text: str) -> list[str]:
    return _SENTENCE.findall(text)


def digits(text: str) -> list[str]:
    """The numbers of a text, in order (what must read the same in every language)."""
    return re.findall(r"\d+(?:\.\d+)?", text.replace(",", ""))
