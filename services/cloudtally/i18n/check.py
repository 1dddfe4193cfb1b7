"""``python -m cloudtally.i18n.check [--pot FILE]``: keep the catalogues whole.

With ``--pot`` (what ``pybabel extract`` found marked in code), keys not yet in a
language's ``.po`` are added to it untranslated. Then every key must be in every
language with a text, and every ``{placeholder}`` of the English text must be in each
translation (a translation that drops a number would hide it): any gap is printed and
the exit status is 1. Keys are not removed here: many are built at run time
(``finding.<id>``), so a key no extraction finds is not unused. ``pybabel compile`` (or
the first import) makes the ``.mo`` files.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from cloudtally.i18n import DOMAIN, LOCALE_DIR, LOCALES

_PLACEHOLDER = re.compile(r"\{(\w+)(?:![rs])?\}")


def po_path(lang: str) -> Path:
    return LOCALE_DIR / LOCALES[lang] / "LC_MESSAGES" / f"{DOMAIN}.po"


def load(lang: str) -> Catalog:
    with po_path(lang).open("rb") as f:
        return read_po(f, locale=LOCALES[lang])


def save(lang: str, cat: Catalog) -> None:
    with po_path(lang).open("wb") as f:
        write_po(f, cat, width=100, sort_output=False)


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def problems() -> list[str]:
    """Every gap between the catalogues, as lines a translator can act on."""
    cats = {lang: load(lang) for lang in LOCALES}
    texts = {lang: {str(m.id): str(m.string) for m in c if m.id} for lang, c in cats.items()}
    every = set().union(*texts.values())
    out = []
    for key in sorted(every):
        en = texts["en"].get(key, "")
        for lang, t in texts.items():
            if not t.get(key):
                out.append(f"{po_path(lang).relative_to(LOCALE_DIR)}: {key}: no translation")
            elif en and placeholders(en) - placeholders(t[key]):
                missing = ", ".join(sorted(placeholders(en) - placeholders(t[key])))
                out.append(f"{LOCALES[lang]}: {key}: drops {{{missing}}}")
    return out


def merge(pot: Path) -> int:
    """Add the template's keys missing from each ``.po`` (untranslated); how many."""
    with pot.open("rb") as f:
        template = read_po(f)
    added = 0
    for lang in LOCALES:
        cat = load(lang)
        for m in template:
            if m.id and m.id not in cat:
                cat.add(m.id, "", locations=m.locations)
                added += 1
        save(lang, cat)
    return added


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pot", type=Path, action="append", help="template(s) from pybabel extract")
    args = ap.parse_args(argv)
    for pot in args.pot or []:
        print(f"{pot}: {merge(pot)} new key(s) added to the catalogues")
    gaps = problems()
    for g in gaps:
        print(g)
    print(f"{len(gaps)} gap(s)")
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main())
