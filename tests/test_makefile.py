"""No value typed on make's command line reaches a shell or make's own expansion.

Each target runs for real in a copy of the Makefile whose ``.venv/bin`` holds stub programs
that only record their arguments; a payload that ran would leave a ``pwned`` file behind.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KERNEL = re.search(r"^override KERNEL := (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
PAYLOADS = [
    "x; touch pwned",
    "x'; touch pwned; echo '",
    'x" ; touch pwned ; echo "',
    "$(shell touch pwned)",
    "${shell touch pwned}",
    "$(eval $(shell touch pwned))",
    "$$(touch pwned)",
    "`touch pwned`",
    "x #; touch pwned",
    "x\ntouch pwned",
]
# Every target the Makefile declares: a new one is covered without editing this file.
PHONY = re.search(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(), re.M).group(1).split()
# target -> the command-line variables it hands to the program, and the option each becomes.
TARGETS = {
    "check": {"DATA": "--data"},
    "report": {
        "WEBINAR": "--webinar",
        "DATA": "--data",
        "LANG": "--lang",
        "FORMATS": "--formats",
        "OUT": "--out",
        "REGISTRATIONS": "--registrations",
    },
    "reports": {
        "DATA": "--data",
        "LANG": "--lang",
        "FORMATS": "--formats",
        "OUT": "--out",
        "REGISTRATIONS": "--registrations",
    },
    "fetch": {
        "PROJECT_REF": "--project-ref",
        "START": "--start",
        "END": "--end",
        "OUT": "--out",
        "FLAVOUR": "--flavour",
        "DISPLAY_TZ": "--display-tz",
        "MODE": "--mode",
    },
}
# Names a user might set that no target hands over: internal ones, make's own, strays.
OTHER_VARIABLES = (
    "UNRELATED",
    "BIN",
    "VENV",
    "STAMP",
    "KERNEL",
    "KERNEL_SPEC",
    "FONTS_STAMP",
    "PM_DATA",
    "PM_LANG_VALUE",
    "SHELL",
    ".SHELLFLAGS",
    "MAKEFILE_LIST",
)
# Each run of a stub appends one record: its name and arguments, NUL-separated, then a record
# separator (a byte no payload holds), so one make run that starts several programs shows each.
STUB = """#!/bin/sh
printf '%s\\0' "$(basename "$0")" "$@" >> "{record}"
printf '\\036' >> "{record}"
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the Makefile with recording stubs for python, ruff, jupytext and jupyter."""
    root = tmp_path_factory.mktemp("make")
    shutil.copy(ROOT / "Makefile", root / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "ruff", "jupytext", "jupyter"):
        stub = bin_dir / name
        stub.write_text(STUB.format(record=root / "argv"))
        stub.chmod(0o755)
    set_up(root)
    return root


def set_up(root: Path) -> None:
    """Mark the copy's venv as set up: its stamps and kernel spec newer than pyproject.toml."""
    stamp = root / ".venv" / ".setup-stamp"
    fonts = root / ".venv" / ".print-fonts-stamp"
    spec = root / ".venv" / "share" / "jupyter" / "kernels" / KERNEL / "kernel.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    later = (root / "pyproject.toml").stat().st_mtime + 60
    for path, at in ((stamp, later), (spec, later + 1), (fonts, later + 1)):
        path.touch()
        os.utime(path, (at, at))


def read_records(root: Path) -> list[list[str]]:
    """The argument lists the stubs recorded since the record was last removed, in order."""
    record = root / "argv"
    if not record.exists():
        return []
    return [r.split("\0")[:-1] for r in record.read_bytes().decode().split("\x1e")[:-1]]


def run_make_all(root: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    """Run make with ``args``; return it and every program it started (their argument lists)."""
    (root / "argv").unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PM_", "MAKE"))}
    done = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done, read_records(root)


def run_make(root: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[str] | None]:
    """Run make with ``args``; return it and the last program's argument list (or None)."""
    done, records = run_make_all(root, *args)
    return done, (records[-1] if records else None)


def assert_nothing_ran(root: Path, done: subprocess.CompletedProcess) -> None:
    planted = sorted(str(p.relative_to(root)) for p in root.rglob("pwned"))
    assert not planted, (planted, done.stdout, done.stderr)


@pytest.mark.parametrize(
    ("target", "variable"),
    [(t, v) for t, variables in TARGETS.items() for v in variables],
)
def test_every_user_value_reaches_the_program_verbatim_and_runs_nothing(project, target, variable):
    option = TARGETS[target][variable]
    for payload in PAYLOADS:
        done, argv = run_make(project, target, f"{variable}={payload}")
        assert_nothing_ran(project, done)
        assert argv is not None, (payload, done.stderr)
        assert argv[:3] == ["python", "-m", "analysis"], argv
        assert f"{option}={payload}" in argv, (payload, argv)


def test_a_value_from_the_environment_is_handed_over_verbatim_too(project):
    for payload in PAYLOADS:
        env_done = subprocess.run(
            ["make", "--no-print-directory", "check"],
            cwd=project,
            env={**os.environ, "DATA": payload},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert_nothing_ran(project, env_done)
        argv = read_records(project)[-1]
        assert f"--data={payload}" in argv


def test_unset_values_arrive_empty_and_defaults_arrive_as_written(project):
    _, argv = run_make(project, "fetch")
    assert argv[3:] == [
        "fetch",
        "--project-ref=",
        "--start=",
        "--end=",
        "--out=",
        "--flavour=",
        "--display-tz=",
        "--mode=",
    ]
    _, argv = run_make(project, "report")
    assert "--data=data/raw/2026-02-06-eventlive" in argv and "--formats=html,pdf" in argv
    # LANG from the environment is the shell's locale, not the report's language.
    done = subprocess.run(
        ["make", "--no-print-directory", "report"],
        cwd=project,
        env={**os.environ, "LANG": "C.UTF-8"},
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0
    argv = read_records(project)[-1]
    assert "--lang=ko" in argv


@pytest.mark.parametrize("variable", OTHER_VARIABLES)
def test_no_other_variable_or_internal_name_runs_anything(project, variable):
    # Every target in one make run per payload (-k: on past a target that fails, e.g. bench
    # without benchmarks): make reads the Makefile once and expands each target's recipe
    # with the payload set, as it would for that target alone; each program that starts
    # appends its own record, so every one of them is checked.
    for payload in PAYLOADS:
        done, records = run_make_all(project, "-k", *PHONY, f"{variable}={payload}")
        assert_nothing_ran(project, done)
        started = {argv[3] for argv in records if argv[:3] == ["python", "-m", "analysis"]}
        assert started >= set(TARGETS), (variable, payload, done.stderr)  # the runs happened
        for argv in records:
            assert argv[0] in ("python", "ruff", "jupytext", "jupyter"), argv
            assert payload not in argv, (variable, payload, argv)


def test_setup_hands_python_over_as_one_program_name(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for payload in PAYLOADS:
        done, _ = run_make(tmp_path, "setup", f"PYTHON={payload}")
        assert_nothing_ran(tmp_path, done)
        assert done.returncode != 0  # no such interpreter: the venv is not made
        assert not (tmp_path / ".venv" / ".setup-stamp").exists()


def test_bench_runs_every_benchmark_and_fails_when_one_misses(tmp_path):
    """One benchmark missing its target must not hide the ones after it, nor pass the run."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    ran = tmp_path / "ran"
    python = bin_dir / "python"
    # The stub records each benchmark it is given and fails for the one named "miss".
    python.write_text(f'#!/bin/sh\necho "$1" >> "{ran}"\ncase "$1" in *miss*) exit 1;; esac\n')
    python.chmod(0o755)
    set_up(tmp_path)
    (tmp_path / "benchmarks").mkdir()
    for name in ("bench_a.py", "bench_miss.py", "bench_z.py"):
        (tmp_path / "benchmarks" / name).touch()
    done, _ = run_make(tmp_path, "bench")
    assert done.returncode != 0
    assert ran.read_text().split() == [
        "benchmarks/bench_a.py",
        "benchmarks/bench_miss.py",
        "benchmarks/bench_z.py",
    ]
    assert "bench_miss.py" in done.stderr


def test_a_venv_set_up_before_the_fonts_rule_gets_its_print_fonts_on_the_next_make(tmp_path):
    """A venv whose fonts sat in share/eventlive-postmortem: the next make runs print-fonts once."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(STUB.format(record=tmp_path / "argv"))
    (bin_dir / "python").chmod(0o755)
    set_up(tmp_path)
    (tmp_path / ".venv" / ".print-fonts-stamp").unlink()
    # set_up dates the venv a minute after pyproject.toml; here that minute lies in the past,
    # so the stamp the rule writes is newer than the venv's, as on a real machine.
    now = time.time()
    for name, at in (("pyproject.toml", now - 120), (".venv/.setup-stamp", now - 60)):
        os.utime(tmp_path / name, (at, at))
    _, records = run_make_all(tmp_path, "setup")
    assert records == [["python", "-m", "analysis", "print-fonts"]]
    _, records = run_make_all(tmp_path, "setup")
    assert records == []
