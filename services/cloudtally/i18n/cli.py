"""The command line in the reader's language: ``cloudtally --lang zh|en`` (or
``CLOUDTALLY_LANG``, else the locale, else zh) chooses what commands print; command and
group help come from the catalogue's ``cli.<path>`` (``cli.invoices.verify``), in the
language of ``CLOUDTALLY_LANG`` / the locale when the help is shown."""

from __future__ import annotations

from typing import Any

from cloudtally.i18n import cli_lang, gettext


def localise_help(app: Any, lang: str | None = None, prefix: str = "cli.") -> None:
    """Set every command's and group's help of a Typer ``app`` from the catalogue (a key the
    catalogue lacks keeps the docstring)."""
    lang = lang or cli_lang()
    if prefix == "cli.":
        text = gettext("cli", lang)
        if text != "cli":
            app.info.help = text
    for cmd in app.registered_commands:
        name = cmd.name or cmd.callback.__name__.strip("_").replace("_", "-")
        text = gettext(f"{prefix}{name}", lang)
        if text != f"{prefix}{name}":
            cmd.help = text
    for group in app.registered_groups:
        text = gettext(f"{prefix}{group.name}", lang)
        if text != f"{prefix}{group.name}":
            group.help = text
        localise_help(group.typer_instance, lang, f"{prefix}{group.name}.")
