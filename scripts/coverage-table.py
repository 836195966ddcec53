#!/usr/bin/env python3
"""Line coverage per library crate, from the LCOV reports scripts/coverage has tarpaulin write.

Usage: coverage-table.py LCOV_FILE... FLOOR_FILE

Prints one row per crate (lines covered, lines total, percent, floor, target) and exits 1 if a
crate is below its floor in FLOOR_FILE (lines `crate percent`, `#` comments), or has no floor,
or has no lines in the reports. A line counts as covered when any report has it hit (the tests'
run and the examples' run are two reports). A file belongs to the crate whose folder it is in
(the first component of its path relative to the workspace root).
"""

import math
import os
import sys

# The coverage each crate is meant to reach; the floor is what it has reached.
TARGETS = {"rosey-abi": 90.0, "rosey-core": 90.0, "rosey-actors": 90.0}
CRATES = ["rosey-abi", "rosey-host", "rosey-core", "rosey-actors"]


def read_lcov(paths, root):
    """{crate: [covered, total]} from the reports' DA (line, hits) records."""
    lines = {}  # (file, line) -> hit?; a line listed twice counts once
    for path in paths:
        current = None
        with open(path, encoding="utf-8") as report:
            for raw in report:
                raw = raw.strip()
                if raw.startswith("SF:"):
                    current = os.path.relpath(os.path.join(root, raw[3:]), root)
                elif raw.startswith("DA:") and current is not None:
                    number, hits = raw[3:].split(",")[:2]
                    key = (current, int(number))
                    lines[key] = lines.get(key, False) or int(hits) > 0
                elif raw == "end_of_record":
                    current = None
    per_crate = {}
    for (file, _), hit in lines.items():
        crate = file.split(os.sep)[0]
        counts = per_crate.setdefault(crate, [0, 0])
        counts[0] += hit
        counts[1] += 1
    return per_crate


def read_floors(path):
    floors = {}
    with open(path, encoding="utf-8") as floor_file:
        for number, raw in enumerate(floor_file, 1):
            raw = raw.split("#", 1)[0].strip()
            if not raw:
                continue
            parts = raw.split()
            if len(parts) != 2:
                sys.exit(f"{path}:{number}: expected `crate percent`, found {raw!r}")
            floors[parts[0]] = float(parts[1])
    return floors


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    lcovs, floor_path = sys.argv[1:-1], sys.argv[-1]
    lcov = " and ".join(lcovs)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    per_crate = read_lcov(lcovs, root)
    floors = read_floors(floor_path)

    header = ("crate", "lines covered", "lines total", "%", "floor", "target")
    rows = []
    failures = []
    notes = []
    for crate in CRATES:
        covered, total = per_crate.get(crate, (0, 0))
        percent = 100.0 * covered / total if total else 0.0
        floor = floors.get(crate)
        target = TARGETS.get(crate)
        rows.append((
            crate,
            str(covered),
            str(total),
            f"{percent:.2f}",
            "-" if floor is None else f"{floor:.1f}",
            "-" if target is None else f"{target:.0f}",
        ))
        if total == 0:
            failures.append(f"{crate}: no lines in {lcov} (did its tests run?)")
        elif floor is None:
            failures.append(f"{crate}: no floor in {floor_path}; add `{crate} "
                            f"{math.floor(percent * 2) / 2:.1f}`")
        elif percent < floor:
            failures.append(
                f"{crate}: {percent:.2f} % of lines covered, below its floor of {floor:.1f} %. "
                f"Cover the new or changed code with tests; if the drop is deliberate (code "
                f"moved out of the crate, tests removed on purpose), lower the floor in "
                f"{floor_path} and say why in the commit")
        elif percent - floor >= 1.0:
            notes.append(f"{crate} is at {percent:.2f} %, {percent - floor:.1f} points above its "
                         f"floor: raise it in {floor_path} to {math.floor(percent * 2) / 2:.1f}")

    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    line = "+".join("-" * (w + 2) for w in widths)

    def show(row):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        print("| " + " | ".join(cells) + " |")

    print("Line coverage of the library crates under the whole test suite (cargo-tarpaulin):")
    print("+" + line + "+")
    show(header)
    print("+" + line + "+")
    for row in rows:
        show(row)
    print("+" + line + "+")
    for note in notes:
        print(f"note: {note}")
    sys.stdout.flush()

    for failure in failures:
        print(f"error: coverage: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
