"""Seconds per test file from pytest's JUnit XML (`make test` writes target/junit-test.xml),
as a markdown table, slowest first; with --before, beside an earlier run's.

    python -m tests.junit_times target/junit-test.xml target/junit-test-spark.xml
    python -m tests.junit_times --before main.xml target/junit-test.xml

A file's seconds are its tests' setup, call and teardown summed (pytest's default), on whichever
worker ran each: worker-seconds, not the run's wall time, which the header line gives."""

import argparse
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Times:
    wall: float = 0.0  # the runs' own durations, summed
    files: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    tests: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def test_file(classname: str) -> str:
    """`tests.run.test_faults` (or `tests.x.test_y.TestClass`) -> `tests/run/test_faults.py`."""
    parts = classname.split(".")
    module = next((i for i, part in enumerate(parts) if part.startswith("test_")), len(parts) - 1)
    return "/".join(parts[: module + 1]) + ".py"


def read(paths: list[Path]) -> Times:
    times = Times()
    for path in paths:
        root = ET.parse(path).getroot()
        for suite in root.iter("testsuite"):
            times.wall += float(suite.get("time", 0))
        for case in root.iter("testcase"):
            name = test_file(case.get("classname", ""))
            times.files[name] += float(case.get("time", 0))
            times.tests[name] += 1
    return times


def table(after: Times, before: Times | None) -> str:
    names = sorted(
        after.files.keys() | (before.files.keys() if before else set()),
        key=lambda name: -max(after.files.get(name, 0), before.files.get(name, 0) if before else 0),
    )
    if before is None:
        lines = ["| file | tests | seconds |", "|---|---:|---:|"]
        lines += [f"| {n} | {after.tests[n]} | {after.files[n]:.1f} |" for n in names]
        lines.append(
            f"| all ({after.wall:.0f} s wall) | {sum(after.tests.values())} | "
            f"{sum(after.files.values()):.1f} |"
        )
        return "\n".join(lines)
    lines = [
        "| file | tests before | seconds before | tests after | seconds after |",
        "|---|---:|---:|---:|---:|",
    ]
    for n in names:
        lines.append(
            f"| {n} | {before.tests.get(n, 0)} | {before.files.get(n, 0):.1f} | "
            f"{after.tests.get(n, 0)} | {after.files.get(n, 0):.1f} |"
        )
    lines.append(
        f"| all (wall: {before.wall:.0f} s before, {after.wall:.0f} s after) | "
        f"{sum(before.tests.values())} | {sum(before.files.values()):.1f} | "
        f"{sum(after.tests.values())} | {sum(after.files.values()):.1f} |"
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.junit_times", description=__doc__)
    parser.add_argument("junit", nargs="+", type=Path, help="JUnit XML of the run(s)")
    parser.add_argument(
        "--before", action="append", type=Path, help="JUnit XML of an earlier run (repeatable)"
    )
    args = parser.parse_args(argv)
    missing = [p for p in (*args.junit, *(args.before or ())) if not p.is_file()]
    if missing:
        parser.error(f"no such file: {', '.join(map(str, missing))} (`make test` writes them)")
    print(table(read(args.junit), read(args.before) if args.before else None))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
