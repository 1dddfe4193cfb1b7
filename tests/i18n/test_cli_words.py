"""The CLI's help in the catalogue, in the language asked: every command's and option's
help has a key in both languages, and ``--lang`` decides the help of that very invocation
(``cloudtally --lang en invoices --help`` is English whatever CLOUDTALLY_LANG says)."""

from __future__ import annotations

import re

import click
import pytest
import typer
from typer.testing import CliRunner

from cloudtally.cli import app
from cloudtally.i18n import gettext, has
from cloudtally.i18n.cli import argv_lang, option_keys

CJK = re.compile(r"[\u4e00-\u9fff]")


def _tree(cmd: click.Command, path: tuple[str, ...] = ()):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _tree(sub, (*path, name))


def test_every_command_and_option_help_is_in_the_catalogue() -> None:
    root = typer.main.get_command(app)
    missing = []
    for path, cmd in _tree(root):
        key = "cli" + "".join(f".{p}" for p in path)
        if not (has(key, "zh") and has(key, "en")):
            missing.append(key)
        for p in cmd.params:
            english = getattr(p, "help", None)
            if english and not any(gettext(k, "en") == english for k in option_keys(path, p.name)):
                missing.append(f"{option_keys(path, p.name)[0]}: {english!r}")
    assert not missing, "\n".join(missing)


def test_lang_decides_the_help_of_this_invocation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDTALLY_LANG", "zh")
    monkeypatch.setenv("COLUMNS", "200")  # rich's width: one option a line
    runner = CliRunner()
    en = runner.invoke(app, ["--lang", "en", "invoices", "import", "--help"])
    assert en.exit_code == 0, en.output
    assert "provider id (as in the tariff)" in en.output and "Options" in en.output
    assert not CJK.search(en.output), en.output
    monkeypatch.setenv("CLOUDTALLY_LANG", "zh")
    zh = runner.invoke(app, ["invoices", "import", "--help"])
    assert zh.exit_code == 0, zh.output
    for words in (
        "服务商编号（与价目中一致）",
        "导入后立即核价",
        "选项",
        "显示此帮助并退出",
        "[必填]",
    ):
        assert words in zh.output, (words, zh.output)
    assert "provider id" not in zh.output and "Show this message" not in zh.output
    top = runner.invoke(app, ["--lang=en", "--help"])
    assert "Import and verify provider invoices" in top.output, top.output
    assert "Annual performance evaluation" in top.output
    monkeypatch.setenv("CLOUDTALLY_LANG", "en")
    top = runner.invoke(app, ["--lang", "zh", "--help"])
    assert "导入并核验云服务商账单" in top.output and "年度绩效评价" in top.output, top.output


def test_argv_lang() -> None:
    assert argv_lang(["--lang", "en", "invoices"]) == "en"
    assert argv_lang(["--lang=zh-CN", "--help"]) == "zh"
    assert argv_lang(["invoices", "--lang", "en"]) == ""  # a subcommand's, not the root's
    assert argv_lang(["--lang", "fr"]) == ""
