"""The architecture, checked: the import-linter contracts hold, and what a serving process
imports stays serving code.

The contracts live in pyproject.toml (``[tool.importlinter]``); ``make lint`` runs them too. The
subprocess checks below look at what Python really loads, which the static contracts cannot
see (a third-party package importing another, an import inside a function).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "lendguard"

# Only the pieces that answer the lender's requests on the live path may be imported by them.
OFFLINE_PACKAGES = ("lendguard.training", "lendguard.simulate", "lendguard.cli")
HEAVY_LIBRARIES = ("lightgbm", "polars", "sklearn", "rich")


def _loaded_after_import(module: str) -> dict[str, object]:
    """Import ``module`` in a fresh interpreter; which top-level modules it loaded, and how
    long the import took (seconds)."""
    script = (
        "import json, sys, time\n"
        "started = time.perf_counter()\n"
        f"import {module}\n"
        "elapsed = time.perf_counter() - started\n"
        "print(json.dumps({'seconds': elapsed, 'modules': sorted(sys.modules)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _roots(modules: object) -> set[str]:
    assert isinstance(modules, list)
    return {name.split(".")[0] for name in modules}


def _lendguard_packages(modules: object) -> set[str]:
    assert isinstance(modules, list)
    return {".".join(name.split(".")[:2]) for name in modules if name.startswith("lendguard.")}


def test_import_contracts_hold() -> None:
    """Every contract in pyproject.toml is kept (layers, the engine's purity, serving code
    free of offline code, the consent ledger free of the ML stack)."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 broken." in done.stdout
    configured = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    kept = done.stdout.count(" KEPT")
    assert kept == len(configured["contracts"]) >= 6


def test_every_top_level_module_has_a_layer() -> None:
    """A new top-level package or module must be placed in a layer, or the layers contract
    would silently not cover it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["id"] == "layers"]
    # "(name)" is an optional layer: placed, but allowed to be absent
    tails = [part.strip() for layer in layers for part in layer.replace("|", ":").split(":")]
    placed = {tail.strip("()") for tail in tails}
    required = {tail for tail in tails if not tail.startswith("(")}
    present = {
        f"lendguard.{path.stem}"
        for path in SRC.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    assert present - placed == set()
    assert required - present == set()


def test_consent_ledger_loads_no_ml_stack() -> None:
    """Importing the consent ledger loads no LightGBM, Polars, scikit-learn or rich (it used
    to pull them in through the decisions package: over two seconds per process)."""
    loaded = _loaded_after_import("lendguard.privacy.consent")
    print(f"import lendguard.privacy.consent: {loaded['seconds']:.3f} s")  # noqa: T201 - read with pytest -s
    assert _roots(loaded["modules"]) & set(HEAVY_LIBRARIES) == set()
    assert _lendguard_packages(loaded["modules"]) & set(OFFLINE_PACKAGES) == set()


def test_the_app_loads_no_offline_code() -> None:
    """The API process imports no training, simulator, benchmark or CLI code, no Polars (only
    the offline readers use it) and no LightGBM or scikit-learn until a model is loaded (a
    deployment without a learned score never pays for them). rich is left out of this runtime
    check because structlog imports it for its tracebacks whenever it is installed; the
    import-linter contract keeps LendGuard's own serving modules free of it."""
    loaded = _loaded_after_import("lendguard.app")
    print(f"import lendguard.app: {loaded['seconds']:.3f} s")  # noqa: T201 - read with pytest -s
    assert _lendguard_packages(loaded["modules"]) & set(OFFLINE_PACKAGES) == set()
    assert _roots(loaded["modules"]) & {"lightgbm", "polars", "sklearn"} == set()
