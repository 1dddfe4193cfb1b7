"""Alert texts in both languages: the catalogue's ``alert.<Name>.summary`` /
``.description`` (Prometheus templates, ``{{ $labels.x }}`` and all) are the source; this
writes each alert's Chinese ones into the rule file as ``summary_zh`` / ``description_zh``
annotations beside the English ``summary`` / ``description`` (Alertmanager templates pick
the language). ``python -m cloudtally.i18n.alerts [--check] [FILE]``; the test suite fails
when the file and the catalogue disagree."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from cloudtally.i18n import gettext

RULES_FILE = Path(__file__).resolve().parents[3] / "deploy/prometheus/rules/alerts.yml"
_ALERT = re.compile(r"^\s*- alert:\s*(\S+)\s*$")
_KEY = re.compile(r"^(\s*)(summary_zh|description_zh|runbook_url):")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def synced(text: str) -> str:
    """``text`` (an alerts.yml) with every alert's zh annotations from the catalogue."""
    out: list[str] = []
    alert = ""
    skip_deeper_than = -1
    for line in text.splitlines():
        if skip_deeper_than >= 0:
            if line.strip() and _indent(line) > skip_deeper_than:
                continue  # the old zh block's continuation
            skip_deeper_than = -1
        m = _ALERT.match(line)
        if m:
            alert = m.group(1)
        k = _KEY.match(line)
        if k and k.group(2) != "runbook_url":
            skip_deeper_than = len(k.group(1))
            continue
        if k and alert:
            pad = k.group(1)
            summary = gettext(f"alert.{alert}.summary", "zh")
            description = gettext(f"alert.{alert}.description", "zh")
            if not summary.startswith("alert."):
                out.append(f"{pad}summary_zh: {json.dumps(summary, ensure_ascii=False)}")
            if not description.startswith("alert."):
                out.append(f"{pad}description_zh: >-")
                out.append(f"{pad}  {description}")
        out.append(line)
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="write the zh alert annotations")
    ap.add_argument("file", nargs="?", type=Path, default=RULES_FILE)
    ap.add_argument("--check", action="store_true", help="only say whether it is in sync")
    args = ap.parse_args(argv)
    text = args.file.read_text(encoding="utf-8")
    new = synced(text)
    if args.check:
        print("in sync" if new == text else f"{args.file}: zh annotations out of date")
        return 0 if new == text else 1
    args.file.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
