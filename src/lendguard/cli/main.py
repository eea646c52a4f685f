"""The ``lendguard`` command (Typer): one module per command group, assembled here.

Every sub-command calls the same services as the API, built by :mod:`lendguard.cli.factory`.
Groups and top-level commands are registered in the order ``lendguard --help`` lists them.
"""

from __future__ import annotations

import typer

from lendguard.cli import (
    alliance,
    apikeys,
    assistant,
    audit,
    bench,
    cases,
    complaints,
    db,
    decide,
    demo,
    graph,
    imports,
    keys,
    labels,
    lending,
    models,
    pii,
    policies,
    report,
    rules,
    secrets,
    serve,
    users,
    worker,
)
from lendguard.cli.common import os_actor

__all__ = ["app", "os_actor"]

app = typer.Typer(no_args_is_help=True, help="LendGuard: consumer protection for digital lenders.")

for command in (
    decide.decide,
    demo.replay,
    demo.simulate,
    demo.backtest,
    serve.serve,
    worker.worker,
    demo.demo,
    bench.bench,
    report.report,
):
    app.command()(command)

for name, group in (
    ("db", db.app),
    ("rules", rules.app),
    ("apikeys", apikeys.app),
    ("model", models.app),
    ("import", imports.app),
    ("policies", policies.app),
    ("users", users.app),
    ("labels", labels.app),
    ("cases", cases.app),
    ("secrets", secrets.app),
    ("lending", lending.app),
    ("keys", keys.app),
    ("audit", audit.app),
    ("pii", pii.app),
    ("complaints", complaints.app),
    ("assistant", assistant.app),
    ("graph", graph.app),
    ("alliance", alliance.app),
    ("stream", worker.app),
):
    app.add_typer(group, name=name)

if __name__ == "__main__":
    app()
