"""Rule sets: check a file, lint what a customer reads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lendguard.cli.common import dumps

app = typer.Typer(no_args_is_help=True, help="Rule sets.")


@app.command("check")
def rules_check(file: Path) -> None:
    """Validate a rule-set file; problems are printed as file:line:column: message."""
    from lendguard.decisions.rules.loader import RuleSetError, load_ruleset_file

    try:
        ruleset = load_ruleset_file(file)
    except RuleSetError as exc:
        for p in exc.problems:
            typer.echo(str(p), err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"{file}: {exc.strerror}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{file}: ok, {len(ruleset.rules)} rules, {len(ruleset.feature_names)} features")


@app.command("lint")
def rules_lint(
    file: Annotated[
        Path | None, typer.Argument(help="A rule-set file; none: every shipped rule set")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Findings as JSON")] = False,
) -> None:
    """Check what a customer would read: every active rule's reason has a zh-CN and en customer
    sentence, and no message or sentence quotes a requirement id, an internal snake_case name,
    the word "placeholder" or Latin words in Chinese. Exit 1 on any finding (the upload API
    refuses the same findings)."""
    from lendguard.decisions.rules.lint import (
        lint_catalogue,
        lint_ruleset,
        shipped_rulesets,
    )
    from lendguard.decisions.rules.loader import RuleSetError, load_ruleset_file

    files = [file] if file is not None else shipped_rulesets()
    findings = [] if file is not None else lint_catalogue()
    problems: list[str] = []
    for path in files:
        try:
            findings += lint_ruleset(load_ruleset_file(path), str(path))
        except RuleSetError as exc:
            problems += [str(p) for p in exc.problems]
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror}")
        except UnicodeDecodeError as exc:  # saved as UTF-16 or GBK: a problem, not a traceback
            problems.append(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8")
    if as_json:
        typer.echo(
            dumps(
                {
                    "files": [str(p) for p in files],
                    "findings": [f.as_dict() for f in findings],
                    "problems": problems,
                }
            )
        )
    else:
        for line in problems + [str(f) for f in findings]:
            typer.echo(line, err=True)
        if not problems and not findings:
            typer.echo(f"{', '.join(str(p) for p in files)}: no findings")
    if problems or findings:
        raise typer.Exit(1)
