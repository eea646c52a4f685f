"""Ids: sortable by time, unique, and a forked child never repeats its parent's next ids
(the random part is drawn from the OS in batches, see :mod:`lendguard.kit.ids`)."""

from __future__ import annotations

import os
import re

import pytest

from lendguard.kit import ids


def test_ids_are_unique_across_several_batches() -> None:
    made = [ids.new_id("dec") for _ in range(3 * ids._BATCH_IDS + 7)]
    assert len(set(made)) == len(made)
    assert all(re.fullmatch(r"dec_[0-9a-f]{12}[0-9a-f]{16}", i) for i in made)
    randoms = {i[-16:] for i in made}
    assert len(randoms) == len(made)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_draws_its_own_random_part() -> None:
    ids.new_id("x")  # the parent holds a partly used pool
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, ids.new_id("x")[-16:].encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent = ids.new_id("x")[-16:]
    assert child != parent
