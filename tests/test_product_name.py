"""The toolkit is for any team: the shipped incident's name is in no report of another team."""

from __future__ import annotations

import json
import tomllib
from importlib import resources

from analysis import findings
from analysis.config import PROJECT_ROOT


def test_the_package_is_named_for_the_product_in_pyproject_and_the_environment():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["name"] == findings.TOOLKIT
    assert f"name: {findings.TOOLKIT}\n" in (PROJECT_ROOT / "environment.yml").read_text(
        encoding="utf-8"
    )
    assert "eventlive" not in findings.TOOLKIT.lower()


def test_the_appendix_names_no_incident_and_still_finds_the_toolkit_version():
    env = findings.package_versions()
    assert not [k for k in env["packages"] if "eventlive" in k.lower()]
    # a venv installed before the rename still reports the toolkit's version
    assert env["packages"][findings.TOOLKIT] == project_version()


def project_version() -> str:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return project["project"]["version"]


def test_no_locale_template_or_schema_text_names_the_shipped_incident():
    package = resources.files("analysis")
    texts = [package.joinpath("findings.schema.json")]
    texts += [f for f in package.joinpath("locales").iterdir() if f.name.endswith(".json")]
    templates = package.joinpath("templates")
    stack = [templates]
    while stack:
        for f in stack.pop().iterdir():
            (stack if f.is_dir() else texts).append(f)
    assert len(texts) > 4
    for f in texts:
        assert "eventlive" not in f.read_text(encoding="utf-8").lower(), f.name
    schema = json.loads(package.joinpath("findings.schema.json").read_text(encoding="utf-8"))
    assert "postmortem" in schema["title"].lower()
