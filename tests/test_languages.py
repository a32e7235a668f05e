"""Languages are the locale files: adding one file adds a language everywhere it is named."""

from __future__ import annotations

import json
import shutil
import string

import pytest

from analysis import findings, languages, narrative, report
from analysis.exceptions import ParameterError
from analysis.params import build_params

#: A toy language for the tests: Esperanto, written in Latin script like English.
TOY = "eo"


@pytest.fixture
def with_toy_language(tmp_path, monkeypatch):
    """The package's locales plus ``eo.json`` (English strings, another title), in a copy."""
    locales = tmp_path / "locales"
    shutil.copytree(languages.LOCALES_DIR, locales)
    toy = json.loads((locales / "en.json").read_text(encoding="utf-8"))
    toy["lang"] = TOY
    toy["title"] = "{title}: postmortemo"
    (locales / f"{TOY}.json").write_text(json.dumps(toy, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(languages, "LOCALES_DIR", locales)
    return locales


def test_the_shipped_languages_are_the_shipped_locale_files():
    stems = sorted(p.stem for p in languages.LOCALES_DIR.glob("*.json"))
    assert languages.available_languages() == tuple(stems)
    assert {"ko", "en"} <= set(stems)
    for lang in stems:
        assert languages.font_for(lang).family  # every shipped script has a font


def test_a_new_locale_file_is_a_new_language_everywhere(
    with_toy_language, tmp_path, small_analysis
):
    assert TOY in languages.available_languages()
    # Parameters accept it, and list it when refusing another.
    assert build_params("f257ce42-723a-4fad-a9a5-1bd8c154d7ce", tmp_path, lang="EO").lang == TOY
    with pytest.raises(ParameterError, match=rf"expected one of .*\b{TOY}\b"):
        build_params("f257ce42-723a-4fad-a9a5-1bd8c154d7ce", tmp_path, lang="xx")
    # The findings schema takes it.
    doc = json.loads(json.dumps(small_analysis.findings))
    doc["report"]["lang"] = TOY
    findings.validate_findings(doc)
    doc["report"]["lang"] = "xx"
    with pytest.raises(Exception, match="xx"):
        findings.validate_findings(doc)
    # The command line names it; the text and the fonts come from its file and its script.
    assert TOY in report._parser("python -m analysis report", one=True).format_help()
    page = narrative.SECTIONS["title"](small_analysis.findings, narrative.load_locale(TOY))
    assert page.startswith(f"# {small_analysis.findings['report']['title']}: postmortemo")
    assert languages.font_for(TOY) == languages.SCRIPT_FONTS["Latn"]
    assert languages.css_font_stack(TOY) == languages.css_font_stack("en")


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("eo.json", {"lang": "eo", "script": "Klingon"}, "field 'script'"),
        ("eo.json", {"lang": "en", "script": "Latn"}, "field 'lang': expected 'eo'"),
        ("Esperanto.json", {"lang": "Esperanto", "script": "Latn"}, "language code"),
        ("eo.json", "{not json", "not a JSON locale file"),
    ],
)
def test_a_broken_locale_file_is_one_line_naming_it(tmp_path, name, content, fragment):
    (tmp_path / "en.json").write_text(json.dumps({"lang": "en", "script": "Latn"}))
    text = content if isinstance(content, str) else json.dumps(content)
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(ParameterError, match=fragment) as err:
        languages.available_languages(tmp_path)
    assert name in str(err.value) and "\n" not in str(err.value)


def test_an_unknown_language_names_the_known_ones():
    with pytest.raises(ParameterError, match="ko"):
        languages.load_locale("xx")


def test_figures_and_page_use_the_font_of_the_language(monkeypatch):
    from matplotlib import pyplot as plt

    from analysis import plots

    found = plots.configure_plots("ko")
    family = languages.font_for("ko").family
    if found:
        assert plt.rcParams["font.family"][0] == family
    assert languages.css_font_stack("ko").startswith(f'"{family}"')
    assert f"{family}" in report._page_resources("ko")["fonts"]["text"]


def _strings(node: object, prefix: str = "") -> dict[str, str]:
    """Every string of a locale document by its path (lists by index)."""
    if isinstance(node, dict):
        return {
            k: v for key, sub in node.items() for k, v in _strings(sub, f"{prefix}/{key}").items()
        }
    if isinstance(node, list):
        return {
            k: v for i, sub in enumerate(node) for k, v in _strings(sub, f"{prefix}[{i}]").items()
        }
    return {prefix: node} if isinstance(node, str) else {}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


#: Strings a locale may leave out: the audit's own (English) sentence is the fallback.
OPTIONAL = ("/audit/codes",)


@pytest.mark.parametrize("lang", languages.available_languages())
def test_every_locale_has_every_string_with_the_same_placeholders(lang):
    base = {
        k: v for k, v in _strings(languages.load_locale("en")).items()
        if not k.startswith(OPTIONAL)
    }  # fmt: skip
    own = _strings(languages.load_locale(lang))
    mine = {k: v for k, v in own.items() if not k.startswith(OPTIONAL)}
    assert sorted(set(base) - set(mine)) == [] and sorted(set(mine) - set(base)) == []
    for key in ("/lang", "/script"):
        base.pop(key), mine.pop(key)
    wrong = [k for k in base if _fields(base[k]) != _fields(mine[k])]
    assert wrong == [], f"{lang}: placeholders differ from en in {wrong[:5]}"
