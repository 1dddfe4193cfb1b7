"""The command line in the reader's language: ``cloudtally --lang zh|en`` (or
``CLOUDTALLY_LANG``, else the locale, else zh) chooses what commands print and their help.

Help is localised on the click command tree just before it runs (:class:`LocalisedGroup`,
the root group's class), after ``--lang`` has been read from the arguments, so ``cloudtally
--lang en invoices --help`` is English whatever the environment says. Command and group help
come from the catalogue's ``cli.<path>`` (``cli.invoices.verify``); an option's help from
``cli.opt.<path>.<name>`` or, when every option of that name says the same,
``cli.opt.<name>`` — used only while the catalogue's English is the code's ``help=`` text,
so an option whose help changed in code shows its new English rather than a stale
translation (``tests/i18n/test_cli_words.py`` fails until the catalogue follows)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click
from typer.core import TyperGroup

from cloudtally.i18n import cli_lang, gettext, normalise

_ENGLISH = "_cloudtally_english_help"


def option_keys(path: Sequence[str], name: str) -> tuple[str, str]:
    """The catalogue keys of an option's help: its own, then the one shared by its name."""
    return f"cli.opt.{'.'.join((*path, name))}", f"cli.opt.{name}"


def option_help(path: Sequence[str], name: str, english: str, lang: str) -> str:
    """An option's help in ``lang``; ``english`` (the code's) unless the catalogue has it."""
    for key in option_keys(path, name):
        if gettext(key, "en") == english:
            return gettext(key, lang)
    return english


def localise_command(cmd: Any, lang: str, path: tuple[str, ...] = ()) -> None:
    """Every help text under ``cmd`` (commands, groups, options, arguments) in ``lang``."""
    key = "cli" + "".join(f".{p}" for p in path)
    text = gettext(key, lang)
    if text != key:
        cmd.help = text
        cmd.short_help = None
    _help_option(cmd, gettext("cli.opt.help", lang))
    for param in cmd.params:
        english = getattr(param, _ENGLISH, None)
        if english is None:
            english = getattr(param, "help", None) or ""
            setattr(param, _ENGLISH, english)
        if english and param.name:
            param.help = option_help(path, param.name, english, lang)
    for name, sub in getattr(cmd, "commands", {}).items():
        localise_command(sub, lang, (*path, name))


def _help_option(cmd: click.Command, text: str) -> None:
    """``--help``'s own help (click makes the option when asked for it)."""
    make = getattr(cmd, "_cloudtally_help_option", None) or cmd.get_help_option
    cmd._cloudtally_help_option = make  # type: ignore[attr-defined]

    def get_help_option(ctx: click.Context) -> click.Option | None:
        opt = make(ctx)
        if opt is not None:
            opt.help = text
        return opt

    cmd.get_help_option = get_help_option  # type: ignore[method-assign]


def argv_lang(args: Sequence[str]) -> str:
    """``--lang X`` / ``--lang=X`` among the root's arguments ('' when absent or unknown)."""
    for i, a in enumerate(args):
        if a == "--lang" and i + 1 < len(args):
            return normalise(args[i + 1])
        if a.startswith("--lang="):
            return normalise(a.partition("=")[2])
        if not a.startswith("-"):
            break  # a subcommand: --lang belongs to the root
    return ""


def _panels(lang: str) -> None:
    """typer's own panel titles (Options, Arguments, Commands) in ``lang``."""
    try:
        from typer import rich_utils
    except ImportError:  # pragma: no cover - typer without rich
        return
    for attr, key in _TYPER_WORDS:
        setattr(rich_utils, attr, gettext(key, lang))


_TYPER_WORDS = (  # typer's own words in a help page, and their keys
    ("OPTIONS_PANEL_TITLE", "cli.panel.options"),
    ("ARGUMENTS_PANEL_TITLE", "cli.panel.arguments"),
    ("COMMANDS_PANEL_TITLE", "cli.panel.commands"),
    ("REQUIRED_LONG_STRING", "cli.panel.required"),
    ("DEFAULT_STRING", "cli.panel.default"),
    ("ERRORS_PANEL_TITLE", "cli.panel.error"),
    ("RICH_HELP", "cli.panel.try_help"),
)


class LocalisedGroup(TyperGroup):
    """The root group: reads ``--lang`` first, then localises the whole tree, so help
    (rendered while the arguments are parsed) is in the language asked for."""

    def main(self, args: Sequence[str] | None = None, *a: Any, **kw: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        chosen = argv_lang(argv)
        if chosen:  # what commands print follows it too (the --lang callback checks it)
            os.environ["CLOUDTALLY_LANG"] = chosen
        lang = cli_lang(chosen or None)
        localise_command(self, lang)
        _panels(lang)
        return super().main(argv, *a, **kw)
