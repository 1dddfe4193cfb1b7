"""A refusal as data, so that it can be told in the reader's language."""

from __future__ import annotations


class BadValue(ValueError):
    """A refusal as data: ``reason_id`` (the catalogue's ``import.<id>`` for invoice
    files, ``validation.<id>`` for policies) and its parameters beside the English text
    (``str()``), so an API answer, an export or the CLI tells it in the reader's language
    (``cloudtally.i18n.reasons``) and a stored job keeps it in neither. An empty id: the
    English text is all there is."""

    def __init__(self, text: str, reason_id: str = "", **params: object) -> None:
        super().__init__(text)
        self.reason_id = reason_id
        self.params = {k: str(v) for k, v in params.items()}
