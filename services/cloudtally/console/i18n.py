"""Console wording, Chinese first, from the one message catalogue (cloudtally.i18n).

``t(key)`` in templates; unknown keys show the key. The console's keys are the
unprefixed ones of the catalogue (``nav.home``, ``amount``…): correct a wording in
``cloudtally/i18n/locale/<lang>/LC_MESSAGES/cloudtally.po``.
"""

from __future__ import annotations

from collections.abc import Callable

from cloudtally.i18n import LANGS, catalogue

__all__ = ["LANGS", "translator"]


def translator(lang: str) -> Callable[[str], str]:
    return catalogue(lang).gettext
