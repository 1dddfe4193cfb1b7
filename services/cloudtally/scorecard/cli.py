"""``cloudtally scorecard``: the annual performance evaluation per pool.

cloudtally scorecard show --year 2022 --provider cetc --pool pool-1 [--json]
cloudtally scorecard report --year 2022 --provider cetc --pool pool-1 --out card.html|card.xlsx
cloudtally scorecard enter --year 2022 --indicator basis_sufficiency --points 2 \\
    --comment "立项批复齐全" [--provider cetc --pool pool-1] [--by zhang]
cloudtally scorecard budget --year 2022 --available 58230000 --paid 58230000 --comment "…"
cloudtally scorecard survey --year 2022 满意度.xlsx [--basis percent]
cloudtally scorecard entries --year 2022
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cloudtally.i18n import cli_lang, translate

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

Year = Annotated[int, typer.Option("--year", help="fiscal year (as the policy labels it)")]
Prov = Annotated[str, typer.Option("--provider", help="provider id ('' = every provider)")]
PoolOpt = Annotated[str, typer.Option("--pool", help="pool id ('' = every pool)")]
By = Annotated[str, typer.Option("--by", help="who records it (the ledger's actor)")]


def _ctx() -> tuple[Any, Any, Any]:
    from cloudtally.policy import current_policy, scorecard_scheme
    from cloudtally.settings import get_settings
    from cloudtally.store import open_store

    s = get_settings()
    return (open_store(s.resolved_store_url, s.database), current_policy(s.policy_file),
            scorecard_scheme(s.scorecard_file))  # fmt: skip


def _doc(year: int, provider: str, pool: str) -> dict[str, Any]:
    from cloudtally.audit import ledger
    from cloudtally.scorecard.gather import build
    from cloudtally.scorecard.report import card_json

    store, policy, scheme = _ctx()
    with store:
        card = build(store, policy, scheme, year, provider, pool)
        return card_json(card, lang=cli_lang(), ledger_head=ledger.head_hash(store))


@app.command()
def show(year: Year, provider: Prov, pool: PoolOpt,
         as_json: Annotated[bool, typer.Option("--json")] = False) -> None:  # fmt: skip
    """Print the scorecard: every indicator's figure and points, the total and grade."""
    doc = _doc(year, provider, pool)
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=1, default=str))
        return
    zh = doc["lang"] == "zh"
    for i in doc["indicators"]:
        typer.echo(f"{i['points_shown']:>7} / {i['weight']:>3}  {i['status_text']:<8} "
                   f"{i['name'] if zh else i['name_en']}  {i['figure_text']}")  # fmt: skip
    _ = translate(doc["lang"])
    typer.echo(_("cli.out.scorecard_total", total=doc["total_shown"], full=doc["full_marks"],
                 grade=doc["grade"] if zh else doc["grade_en"])
               + ("" if doc["complete"] else
                  _("cli.out.scorecard_missing", n=len(doc["missing"]))))  # fmt: skip


@app.command()
def report(year: Year, provider: Prov, pool: PoolOpt,
           out: Annotated[Path, typer.Option("--out", help=".html or .xlsx")]) -> None:  # fmt: skip
    """Write the printable HTML report or the XLSX workbook."""
    from cloudtally.scorecard.report import card_html, card_xlsx

    doc = _doc(year, provider, pool)
    if out.suffix.lower() == ".xlsx":
        out.write_bytes(card_xlsx(doc))
    else:
        out.write_text(card_html(doc), encoding="utf-8")
    typer.echo(translate(doc["lang"])("cli.out.scorecard_wrote", file=out,
                                      total=doc["total_shown"], grade=doc["grade"]))  # fmt: skip


def _admin(by: str) -> Any:
    from cloudtally.core.access import Principal

    return Principal(by, "admin")


def _refused(call: Any) -> Any:
    from cloudtally import metrics
    from cloudtally.core.scorecard.survey import SurveyError
    from cloudtally.scorecard.entries import EntryError
    from cloudtally.tabular import TableError

    try:
        return call()
    except SurveyError as exc:
        for p in exc.problems:
            typer.echo(f"rejected: {p}", err=True)
        raise typer.Exit(2) from None
    except (EntryError, TableError) as exc:
        metrics.SCORECARD_INPUTS.labels("entry", "rejected").inc()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def enter(year: Year, indicator: Annotated[str, typer.Option("--indicator")],
          points: Annotated[str, typer.Option("--points")],
          comment: Annotated[str, typer.Option("--comment", help="what the points rest on")],
          provider: Prov = "", pool: PoolOpt = "", by: By = "cli",
          evidence: Annotated[str, typer.Option("--evidence")] = "") -> None:  # fmt: skip
    """Enter (or adjust) an indicator's points; recorded with who/when in the ledger."""
    from cloudtally.scorecard import entries

    store, _, scheme = _ctx()
    with store:
        version = scheme.version_for(year)
        out = _refused(lambda: entries.enter_points(
            store, _admin(by), version, fiscal_year=year, code=indicator, points=points,
            comment=comment, provider=provider, pool=pool, evidence=evidence))  # fmt: skip
    typer.echo(f"recorded {indicator} = {points} by {out['entered_by']} at {out['entered_at']}")


@app.command()
def budget(year: Year, comment: Annotated[str, typer.Option("--comment")],
           approved: Annotated[str | None, typer.Option("--approved")] = None,
           available: Annotated[str | None, typer.Option("--available")] = None,
           paid: Annotated[str | None, typer.Option("--paid")] = None,
           reduced_to_other: Annotated[str | None, typer.Option("--reduced-to-other")] = None,
           recovered: Annotated[str | None, typer.Option("--recovered")] = None,
           provider: Prov = "", pool: PoolOpt = "", by: By = "cli") -> None:  # fmt: skip
    """Record the fiscal year's budget figures (CNY)."""
    from cloudtally.scorecard import entries

    figures = {"approved": approved, "available": available, "paid": paid,
               "reduced_to_other": reduced_to_other, "recovered": recovered}  # fmt: skip
    store, _, _ = _ctx()
    with store:
        _refused(lambda: entries.record(
            store, _admin(by), fiscal_year=year, subject="budget",
            payload=entries.check_budget(figures), comment=comment, provider=provider,
            pool=pool))  # fmt: skip
    typer.echo("recorded budget figures")


@app.command()
def survey(year: Year, file: Annotated[Path, typer.Argument(help="CSV or XLSX")],
           basis: Annotated[str, typer.Option("--basis", help="auto | counts | percent")] = "auto",
           provider: Prov = "", pool: PoolOpt = "", by: By = "cli") -> None:  # fmt: skip
    """Import a satisfaction survey (counts or percentages per answer)."""
    from cloudtally.scorecard.survey import import_survey

    if basis not in ("auto", "counts", "percent"):
        raise typer.BadParameter("basis: auto, counts or percent")
    store, _, _ = _ctx()
    with store:
        out = _refused(lambda: import_survey(store, _admin(by), file, fiscal_year=year,
                                             provider=provider, pool=pool, basis=basis))  # type: ignore[arg-type]  # fmt: skip
    typer.echo(f"imported {file.name}: {out['payload']['answers']} ({out['payload']['basis']})")


@app.command(name="entries")
def list_entries(year: Year) -> None:
    """Every entry of a fiscal year, oldest first, with who and when."""
    from cloudtally.scorecard.entries import history

    store, _, _ = _ctx()
    with store:
        for e in history(store, year):
            payload = json.dumps(e["payload"], ensure_ascii=False)
            where = f"{e['provider'] or '*'}/{e['pool'] or '*'}"
            typer.echo(f"{e['entered_at']} {e['entered_by']:<12} {where} {e['subject']}: "
                       f"{payload} — {e['comment']}")  # fmt: skip
