"""One message catalogue for every user-facing text, in Chinese (zh_CN) and English.

The catalogues are gettext ``.po`` files under ``locale/`` managed with Babel (``make
i18n``); message ids are stable keys (``rule.Q1``, ``finding.Q1``, ``nav.home``), so a
wording is corrected in a ``.po`` file without touching code, in either language. The
compiled ``.mo`` files are build products: compiled by ``make i18n`` or, when missing or
older than their ``.po``, here on first use (so a fresh clone works under ``make test``
and ``make up``). A key missing from a catalogue shows as the key itself, never as an
error: a missing translation must not stop a bill. See docs/i18n.md.
"""

from __future__ import annotations

import gettext as _gettext
import io
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

LANGS: tuple[str, ...] = ("zh", "en")
DEFAULT_EXPORT_LANG = "zh"  # exports and reports
DEFAULT_API_LANG = "en"  # the JSON API's `message` texts
LOCALES: dict[str, str] = {"zh": "zh_CN", "en": "en"}
DOMAIN = "cloudtally"
LOCALE_DIR = Path(__file__).parent / "locale"

_lock = threading.Lock()
_cache: dict[str, _gettext.NullTranslations] = {}


def N_(key: str) -> str:
    """Marks a key for extraction (``pybabel extract -k N_``) without translating it."""
    return key


def normalise(lang: str | None) -> str:
    """'zh', 'zh-CN', 'zh_Hans', 'ZH' → 'zh'; 'en-US' → 'en'; anything else → ''."""
    if not lang:
        return ""
    base = lang.strip().replace("_", "-").split("-")[0].casefold()
    return base if base in LANGS else ""


def _compile(po: Path, mo: Path) -> bytes:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as f:
        catalog = read_po(f)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    data = buf.getvalue()
    try:  # write it for the next process; a read-only install keeps it in memory
        fd, tmp = tempfile.mkstemp(dir=mo.parent, prefix=".mo-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, mo)
    except OSError:
        pass
    return data


def catalogue(lang: str) -> _gettext.NullTranslations:
    """The compiled catalogue of ``lang`` ('zh' or 'en'), loaded once per process."""
    hit = _cache.get(lang)  # the common case: 'zh' / 'en' already loaded
    if hit is not None:
        return hit
    lang = normalise(lang) or DEFAULT_API_LANG
    hit = _cache.get(lang)
    if hit is not None:
        return hit
    with _lock:
        hit = _cache.get(lang)
        if hit is not None:
            return hit
        folder = LOCALE_DIR / LOCALES[lang] / "LC_MESSAGES"
        po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
        if not po.exists():
            t: _gettext.NullTranslations = _gettext.NullTranslations()
        elif mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            with mo.open("rb") as f:
                t = _gettext.GNUTranslations(f)
        else:
            t = _gettext.GNUTranslations(io.BytesIO(_compile(po, mo)))
        _cache[lang] = t
        return t


def gettext(key: str, lang: str) -> str:
    """The text of ``key`` in ``lang``; the key itself when no catalogue has it."""
    return catalogue(lang).gettext(key)


def term(prefix: str, value: str, lang: str) -> str:
    """A code word (a resource type, an adjustment kind, a status) in ``lang``: the
    catalogue's ``<prefix>.<value>``, or the value itself when it has none."""
    key = f"{prefix}.{value}"
    text = catalogue(lang).gettext(key)
    return value if text == key else text


def has(key: str, lang: str) -> bool:
    return catalogue(lang).gettext(key) != key


def translate(lang: str) -> Callable[..., str]:
    """``_ = translate('zh'); _('finding.Q1', billed_quantity='6696', unit='核·时')``.

    Keyword arguments fill ``{name}`` placeholders; a placeholder without a value stays as
    written (a renamed parameter shows, it does not raise)."""
    cat = catalogue(lang)

    def _(key: str, /, **params: Any) -> str:
        text = cat.gettext(key)
        return text.format_map(_Missing(params)) if params else text

    return _


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def negotiate(
    lang: str | None = None, accept_language: str | None = None, default: str = DEFAULT_API_LANG
) -> str:
    """The language to answer in: an explicit ``lang`` (query/option), else the best of the
    ``Accept-Language`` header (q-values honoured), else ``default``."""
    chosen = normalise(lang)
    if chosen:
        return chosen
    if accept_language:
        ranked: list[tuple[float, int, str]] = []
        for i, part in enumerate(accept_language.split(",")):
            tag, _sep, rest = part.strip().partition(";")
            q = 1.0
            if rest.strip().startswith("q="):
                try:
                    q = float(rest.strip()[2:])
                except ValueError:
                    q = 0.0
            code = normalise(tag)
            if code and q > 0:
                ranked.append((-q, i, code))
        if ranked:
            return min(ranked)[2]
    return default


def cli_lang(option: str | None = None) -> str:
    """The CLI's language: ``--lang``, else ``CLOUDTALLY_LANG``, else the locale (``LANG``)
    when it names zh or en, else zh (the readers are Chinese)."""
    return (
        normalise(option)
        or normalise(os.environ.get("CLOUDTALLY_LANG"))
        or normalise(os.environ.get("LC_ALL"))
        or normalise(os.environ.get("LANG"))
        or DEFAULT_EXPORT_LANG
    )


def keys(lang: str) -> Mapping[str, str]:
    """Every key and text of a catalogue (tests, docs)."""
    from babel.messages.pofile import read_po

    po = LOCALE_DIR / LOCALES[normalise(lang) or "en"] / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po.open("rb") as f:
        return {str(m.id): str(m.string) for m in read_po(f) if m.id}


__all__ = [
    "DEFAULT_API_LANG",
    "DEFAULT_EXPORT_LANG",
    "LANGS",
    "N_",
    "catalogue",
    "cli_lang",
    "gettext",
    "has",
    "keys",
    "negotiate",
    "normalise",
    "term",
    "translate",
]
