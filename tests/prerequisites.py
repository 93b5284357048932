"""The system programs the tests drive, each from a Debian package, in one list.

`make prerequisites` (which `make test` and `make test-spark` run first) installs the missing ones
with apt-get, as root or through passwordless sudo. A test that needs one carries its marker
(`@pytest.mark.faketime`): where it is still missing, conftest.py skips the test with one line
saying what to install, and under CI (CI=true) fails it instead: CI never skips a test."""

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Prerequisite:
    name: str  # also the pytest marker of the tests that need it
    commands: tuple[str, ...]  # any one of them on the PATH will do
    package: str  # Debian's
    markers: tuple[str, ...]  # the tests with any of these markers need it


PREREQUISITES = (
    Prerequisite("chromium", ("chromium", "chromium-browser"), "chromium", ("chromium",)),
    Prerequisite("faketime", ("faketime",), "faketime", ("faketime",)),
    Prerequisite("promtool", ("promtool",), "prometheus", ("promtool",)),
    # Every Spark test starts a JVM.
    Prerequisite("java", ("java",), "openjdk-17-jre-headless", ("java", "spark")),
    Prerequisite("lz4", ("lz4",), "lz4", ("lz4",)),
)


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def missing() -> list[Prerequisite]:
    return [p for p in PREREQUISITES if not any(shutil.which(c) for c in p.commands)]


@functools.cache
def missing_at_start() -> tuple[Prerequisite, ...]:
    """What this test process finds missing (looked up once)."""
    return tuple(missing())


def how_to_install(absent: list[Prerequisite] | tuple[Prerequisite, ...]) -> str:
    """One line: what is missing and the command that installs it."""
    names = ", ".join(p.name for p in absent)
    packages = " ".join(p.package for p in absent)
    return (
        f"missing {names}: `sudo apt-get install {packages}` installs them "
        "(`make prerequisites` does, as root or with passwordless sudo)"
    )


def needed_by(markers: set[str]) -> list[Prerequisite]:
    """The missing prerequisites a test with `markers` needs."""
    return [p for p in missing_at_start() if markers.intersection(p.markers)]


def apt_get() -> list[str] | None:
    """How this user runs apt-get: directly as root, through sudo without a password, or not."""
    if shutil.which("apt-get") is None:
        return None
    if os.geteuid() == 0:
        return ["apt-get"]
    sudo = shutil.which("sudo")
    if sudo and subprocess.run([sudo, "-n", "true"], capture_output=True).returncode == 0:
        return [sudo, "-n", "apt-get"]
    return None


def install() -> int:
    """Install what is missing where this user can; 0 if all is there, or outside CI (the
    tests that need what is still missing then skip); 1 under CI."""
    absent = missing()
    runner = apt_get() if absent else None
    if runner is not None:
        packages = [p.package for p in absent]
        print(f"installing {' '.join(packages)} with apt-get", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        quiet = ["-qq", "-o", "Dpkg::Use-Pty=0"]
        for args in (["update", *quiet], ["install", "-y", *quiet, "--no-install-recommends"]):
            command = [*runner, *args, *(packages if args[0] == "install" else [])]
            subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=False)
        absent = missing()
    if not absent:
        print(f"prerequisites: {', '.join(p.name for p in PREREQUISITES)} are installed")
        return 0
    what = "CI fails" if in_ci() else "their tests are skipped"
    print(f"prerequisites: {how_to_install(absent)}; {what}", file=sys.stderr)
    return 1 if in_ci() else 0


if __name__ == "__main__":
    sys.exit(install())
