"""The serving process's interpreter settings (``lendguard.app.tune_for_serving``, applied by
``lendguard.asgi``): a short switch interval, small young collections, and what survives a
collection frozen. Checked in a child process, since they are process-wide."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import gc, json, sys
from lendguard import app
app.tune_for_serving()
app.tune_for_serving()  # twice: the callback is installed once
frozen = gc.get_freeze_count()
kept = [[i] for i in range(20_000)]  # survivors of the next collections
gc.collect(0)
print(json.dumps({
    "threshold": gc.get_threshold(),
    "switch": sys.getswitchinterval(),
    "callbacks": gc.callbacks.count(app._freeze_survivors),
    "frozen_more": gc.get_freeze_count() - frozen,
    "young": gc.get_count()[0],
}))
"""


def test_a_serving_process_freezes_what_survives_each_collection() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=120
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["threshold"][0] == 5_000
    assert found["switch"] == 0.001
    assert found["callbacks"] == 1
    assert found["frozen_more"] >= 20_000  # the kept lists left the collector's view
    assert found["young"] < 5_000
