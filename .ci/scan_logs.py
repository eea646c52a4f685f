"""CI gate: no raw resident ID, mobile number or bank card number in any log file.

    .venv/bin/python .ci/scan_logs.py PATH [PATH ...]

Each PATH is a log file (it must exist) or a directory, searched recursively for ``*.log``.
Every line is scanned with the detectors of ``lendguard.privacy.pii`` (after stripping ANSI
colour codes, which would otherwise glue a number to a letter and hide it) for
``CN_RESIDENT_ID``, ``CN_MOBILE`` and ``BANK_CARD``. Each finding is reported as
``FILE:LINE:COL TYPE MASKED`` (masked, so the CI output does not repeat the identifier) and
the exit status is 1; 2 when no log file was found at all (the step would be checking nothing).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from lendguard.privacy.pii import BANK_CARD, CN_MOBILE, CN_RESIDENT_ID, mask_value, scan

TYPES = (CN_RESIDENT_ID, CN_MOBILE, BANK_CARD)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def log_files(paths: list[str]) -> list[Path]:
    found: dict[Path, None] = {}
    for name in paths:
        path = Path(name)
        if path.is_dir():
            for file in sorted(path.rglob("*.log")):
                if file.is_file():
                    found.setdefault(file.resolve(), None)
        elif path.is_file():
            found.setdefault(path.resolve(), None)
        else:
            sys.stderr.write(f"scan_logs: {name}: no such file or directory\n")
            raise SystemExit(2)
    return list(found)


def scan_file(path: Path) -> tuple[int, list[str]]:
    problems = []
    lines = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            lines += 1
            line = ANSI.sub("", raw.decode("utf-8", errors="replace"))
            for entity in scan(line, TYPES):
                problems.append(
                    f"{path}:{number}:{entity.start + 1} {entity.type} "
                    f"{mask_value(entity.type, entity.text)}"
                )
    return lines, problems


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write(__doc__ or "")
        return 2
    files = log_files(argv)
    if not files:
        sys.stderr.write(f"scan_logs: no *.log file under {' '.join(argv)}\n")
        return 2
    total_lines = 0
    problems: list[str] = []
    for file in files:
        lines, found = scan_file(file)
        total_lines += lines
        problems.extend(found)
    for problem in problems:
        sys.stdout.write(problem + "\n")
    verdict = f"{len(problems)} raw identifier(s) found" if problems else "clean"
    sys.stdout.write(
        f"scan_logs: {len(files)} log file(s), {total_lines:,} lines, "
        f"types {', '.join(TYPES)}: {verdict}\n"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
