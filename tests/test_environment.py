"""The project's environment: pyproject and environment.yml agree; the named kernel exists."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from analysis.config import KERNEL_NAME

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI names.
CONDA_TO_PYPI = {"pyyaml": "pyyaml"}


def _pyproject_requirements() -> dict[str, SpecifierSet]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"]) + list(meta["optional-dependencies"]["dev"])
    return {Requirement(r).name.lower(): Requirement(r).specifier for r in reqs}


def _conda_requirements() -> tuple[dict[str, SpecifierSet], list]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.extend(dep.get("pip", []))
            continue
        m = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", dep)
        name, spec = m.group(1).lower(), m.group(2).replace(" ", "")
        conda[CONDA_TO_PYPI.get(name, name)] = SpecifierSet(spec)
    return conda, pip


def test_environment_yml_has_the_same_packages_as_pyproject():
    conda, pip = _conda_requirements()
    py = _pyproject_requirements()
    assert set(conda) - {"python", "pip"} == set(py)
    assert "-e ." in pip


def test_environment_yml_pins_match_pyproject():
    conda, _ = _conda_requirements()
    for name, spec in _pyproject_requirements().items():
        assert conda[name] == spec, f"{name}: pyproject {spec} vs environment.yml {conda[name]}"


def test_python_floor_agrees():
    conda, _ = _conda_requirements()
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert conda["python"] == SpecifierSet(meta["requires-python"])


def test_installed_versions_satisfy_the_pins():
    from importlib.metadata import version

    for name, spec in _pyproject_requirements().items():
        assert spec.contains(version(name), prereleases=True), (
            f"{name} {version(name)} not in {spec}"
        )


#: Runtime dependencies the package runs as tools rather than imports, each with its use.
TOOLS = {
    "jupyterlab": "make lab",
    "ipykernel": "the kernel papermill executes the postmortem notebook in",
    "jupytext": "make format pairs the notebooks with their py:percent twins",
}


def test_every_runtime_dependency_is_imported_or_a_named_tool():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    sources = [
        p.read_text(encoding="utf-8")
        for p in [*(ROOT / "src" / "analysis").rglob("*.py"), *(ROOT / "notebooks").glob("*.py")]
    ]
    unused = []
    for req in meta["dependencies"]:
        name = Requirement(req).name.lower()
        module = name.replace("-", "_")
        # A distribution's module may differ in case only (fonttools: fontTools).
        pattern = re.compile(rf"^\s*(import|from) {module}\b", re.M | re.I)
        if name not in TOOLS and not any(pattern.search(text) for text in sources):
            unused.append(name)
    assert unused == [], f"runtime dependencies nothing imports: {unused}"


def test_named_kernel_is_registered_inside_the_venv():
    out = subprocess.run(
        [sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    specs = json.loads(out.stdout)["kernelspecs"]
    assert KERNEL_NAME in specs
    spec = specs[KERNEL_NAME]
    assert Path(spec["resource_dir"]).resolve().is_relative_to(Path(sys.prefix).resolve())
    argv0 = Path(spec["spec"]["argv"][0])
    # An absolute interpreter path: a stray `python` on PATH cannot be picked instead.
    assert argv0.is_absolute()
    assert argv0.resolve() == Path(sys.executable).resolve()


def test_make_help_lists_every_target():
    out = subprocess.run(
        ["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    for target in [
        "setup",
        "report",
        "reports",
        "data",
        "check",
        "bench",
        "fetch",
        "test",
        "test-slow",
        "lint",
        "format",
        "lab",
        "clean",
    ]:
        assert re.search(rf"^\s*(\x1b\[1m)?{target}\b", out.stdout, re.M), target
