"""Label normalisation (spec §1): how a sheet name, header or row label is compared."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_WHITESPACE = re.compile(r"\s+")
_QUOTES = re.compile("[\"'“”‘’「」『』]")
# Leading enumerators, after NFKC: 一、 (一) (1) 1. 1、 其中: 减: — possibly several in a row.
_ENUMERATOR = re.compile(
    r"^(?:[一二三四五六七八九十百]+[、.]|\([一二三四五六七八九十百\d]+\)|\d+[、.](?!\d)|其中:|减:)+"
)
# A header may carry its unit (年初预算数(万元)); a key/value label its colon (单位名称：).
_SUFFIX = re.compile(r"(?:\((?:万元|元|%)\)|:)$")


def normalise_label(text: object) -> str:
    """NFKC, no white space or quotes, no leading enumerator, trailing unit or colon."""
    if text is None:
        return ""
    return _normalised(str(text))


@lru_cache(maxsize=16384)  # the same few hundred labels arrive in every workbook of a batch
def _normalised(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text)
    folded = _QUOTES.sub("", _WHITESPACE.sub("", folded))
    folded = _ENUMERATOR.sub("", folded)
    return _SUFFIX.sub("", folded)
