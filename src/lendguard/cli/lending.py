"""Lending: APR and offer checks from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lendguard.cli.common import answer_json_file, dumps

app = typer.Typer(no_args_is_help=True, help="Lending: APR, cost of credit, offers.")


@app.command("apr")
def lending_apr(
    file: Annotated[Path, typer.Argument(help="One schedule, a list, or {KEY: [schedules]}")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the answer as JSON")] = False,
) -> None:
    """APR of each schedule: Appendix J actuarial, and China's annualised IRR (simple 单利 and
    compound 复利) with fees and withheld amounts. Exit code 2 on bad input."""
    from rich.table import Table

    from lendguard.lending.apr import apr_answers

    answers = answer_json_file(file, apr_answers)
    if json_out:
        typer.echo(dumps(answers))
        return
    table = Table(
        title="APR % — App. J: Appendix J actuarial; IRR per unit period annualised "
        "单利 simple (r×k) and 复利 compound ((1+r)^k−1)"
    )
    table.add_column("id", min_width=6, overflow="fold")
    for header in ("App. J", "IRR/unit", "单利", "复利", "R21"):
        table.add_column(header, no_wrap=True, justify="left" if header == "R21" else "right")
    notes = []
    for a in answers:
        check = a.get("tolerance")
        verdict = ""
        if check is not None:
            verdict = f"{'ok' if check['ok'] else 'out'} ±{check['tolerance_points']}"
            if not check["ok"]:
                notes.append(
                    f"{a['id']}: {check['code']} (disclosed {check['disclosed_apr_percent']}, "
                    f"exact {check['exact_apr_percent']:.4f})"
                )
        table.add_row(
            a["id"],
            *(
                _figure(a[k], 4)
                for k in ("apr_percent", "irr_periodic", "apr_simple", "apr_compound")
            ),
            verdict,
        )
    console = Console()
    console.print(table)
    for note in notes:
        console.print(note, soft_wrap=True)


def _figure(value: float | None, places: int) -> str:
    """A rate for the table; compounding a huge periodic rate has no float answer (None)."""
    return "—" if value is None else f"{value:.{places}f}"


@app.command("check-offer")
def lending_check_offer(
    file: Annotated[Path, typer.Argument(help="A loan offer, product card or ad (JSON)")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the answer as JSON")] = False,
) -> None:
    """Check an offer against R1–R9, R11, R13 and R21: its true cost and every finding with
    the policy and source behind it. Exit code 1 when there are findings, 2 on bad input."""
    from lendguard.lending.offers import check

    answer = answer_json_file(file, check)
    if json_out:
        typer.echo(dumps(answer))
    else:
        console = Console()
        cost = answer["cost"]
        console.print(
            f"[bold]{answer['id']}[/bold] ({answer['jurisdiction']}, policy "
            f"{answer['policy_version']}): all-in {cost['apr_simple']:.2f}% simple (单利), "
            f"{_figure(cost['apr_compound'], 2)}% compound (复利); "
            f"Appendix J {cost['apr_percent']:.2f}%"
        )
        for finding in answer["findings"]:
            console.print(
                f"  [red]{finding['code']}[/red] ({finding['requirement']}): {finding['message']}",
                soft_wrap=True,
            )
        if not answer["findings"]:
            console.print("  [green]no findings[/green]")
    if answer["findings"]:
        raise typer.Exit(1)
