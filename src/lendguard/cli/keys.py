"""The PII vault's data keys: rotate and list them."""

from __future__ import annotations

from typing import Annotated

import typer

from lendguard.cli.common import dumps, os_actor
from lendguard.cli.factory import vault

app = typer.Typer(no_args_is_help=True, help="Encryption keys of the PII vault.")


@app.command("rotate")
def keys_rotate(
    batch: Annotated[int, typer.Option(help="Rows re-encrypted per transaction")] = 500,
) -> None:
    """Make a new data key active and re-encrypt every vault row under it, batch by batch,
    while the service keeps running (each row names its key version); retire the old keys.
    Running servers write under the new key from their next write on."""
    result = vault().rotate(batch=batch, actor=os_actor())
    typer.echo(dumps(result))


@app.command("list")
def keys_list() -> None:
    """Data-key versions, their state and how many rows each encrypts."""
    from lendguard.auth import audit

    data_keys = vault()
    versions = data_keys.key_versions()
    audit.record_read(data_keys.db, os_actor(), "vault_keys", "vault")
    typer.echo(dumps(versions))
