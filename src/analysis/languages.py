"""The report's languages, discovered from ``locales/``, and the font of each script.

A language is one file ``locales/<code>.json`` holding every string of the report, its own
code under ``"lang"`` and its writing system under ``"script"`` (an ISO 15924 code such as
``Hang`` or ``Latn``). Parameters, the findings schema and the command line's help all ask
:func:`available_languages`, so adding a language is adding its file, plus an entry in
:data:`SCRIPT_FONTS` when its script is new. docs/extending.md walks through it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from analysis.exceptions import ParameterError

#: Where the package's locale files live.
LOCALES_DIR = Path(__file__).resolve().parent / "locales"
#: Generic ends of the page's font lists, after every script's fonts: first the emoji fonts
#: (Debian's, which the PDF printer uses, then macOS' and Windows'), so emoji and pictographs
#: from the data show as themselves, not as empty boxes.
EMOJI_FONTS = ("Noto Color Emoji", "Apple Color Emoji", "Segoe UI Emoji")
_CSS_TEXT_END = (*(f'"{name}"' for name in EMOJI_FONTS), "system-ui", "sans-serif")
_CSS_CODE_END = ('"DejaVu Sans Mono"', "monospace")
#: Language codes are BCP 47 primary tags, optionally with a region or script subtag.
_CODE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


@dataclass(frozen=True)
class ScriptFont:
    """The font a script is set in, in the figures (matplotlib), the HTML and the PDF.

    Attributes
    ----------
    family : str
        Font family as fontconfig and matplotlib name it; first in the page's font list.
    mono : str
        Monospaced family of the same script, for code spans (class keys, filters).
    fallbacks : tuple of str
        Families the page falls back to on a reader's machine without ``family``.
    file_stem : str
        Part of the font file's name, to register a font installed after matplotlib built
        its font cache.
    debian_package : str
        The Debian package that installs ``family`` (``scripts/install-system-deps.sh``).
    """

    family: str
    mono: str
    fallbacks: tuple[str, ...]
    file_stem: str
    debian_package: str


_NOTO_CJK_KR = ScriptFont(
    family="Noto Sans CJK KR",
    mono="Noto Sans Mono CJK KR",
    fallbacks=("Noto Sans KR", "Apple SD Gothic Neo", "Malgun Gothic"),
    file_stem="NotoSansCJK",
    debian_package="fonts-noto-cjk",
)

#: Font of each script, by ISO 15924 code: the one place fonts are chosen. Latin is set in
#: the same Noto Sans CJK face as Hangul: the face covers Latin, and a report in English on a
#: Korean service still shows Korean titles and messages from the data.
SCRIPT_FONTS: dict[str, ScriptFont] = {
    "Hang": _NOTO_CJK_KR,
    "Kore": _NOTO_CJK_KR,
    "Latn": _NOTO_CJK_KR,
}


def available_languages(locales_dir: Path | None = None) -> tuple[str, ...]:
    """Return the codes of the report's languages, sorted: one per ``<code>.json`` file.

    Parameters
    ----------
    locales_dir : pathlib.Path, optional
        Directory of locale files (default: the package's ``locales/``).

    Raises
    ------
    ParameterError
        A locale file whose name is not a language code, that is not JSON, whose ``"lang"``
        is not its file name or whose ``"script"`` has no font in :data:`SCRIPT_FONTS`.
    """
    return tuple(sorted(_scan(Path(locales_dir) if locales_dir else LOCALES_DIR)))


def load_locale(lang: str, locales_dir: Path | None = None) -> dict:
    """Return the strings of a language (its locale file, read once)."""
    script_of(lang, locales_dir)  # an unknown language is a one-line error naming the known
    return _read(Path(locales_dir) if locales_dir else LOCALES_DIR, lang)


def script_of(lang: str, locales_dir: Path | None = None) -> str:
    """Return the ISO 15924 script code of a language."""
    scripts = _scan(Path(locales_dir) if locales_dir else LOCALES_DIR)
    if lang not in scripts:
        raise ParameterError(
            f"language {lang!r}: no locale file; languages: {', '.join(sorted(scripts))}"
        )
    return scripts[lang]


def font_for(lang: str, locales_dir: Path | None = None) -> ScriptFont:
    """Return the font of a language's script."""
    return SCRIPT_FONTS[script_of(lang, locales_dir)]


def font_families(lang: str, locales_dir: Path | None = None) -> tuple[str, ...]:
    """Return the font families for a report in ``lang``: its script's first, then the others.

    The other scripts' fonts follow so that text from the data in another script (a Korean
    title in an English report) still has glyphs; matplotlib and browsers fall back per glyph.
    """
    first = font_for(lang, locales_dir)
    order = [first.family] + [f.family for f in SCRIPT_FONTS.values()]
    return tuple(dict.fromkeys(order))


def css_font_stack(lang: str, locales_dir: Path | None = None) -> str:
    """Return the CSS ``font-family`` value of the text of a report in ``lang``."""
    first = font_for(lang, locales_dir)
    fonts = [first, *SCRIPT_FONTS.values()]
    names = [f.family for f in fonts] + [name for f in fonts for name in f.fallbacks]
    return ", ".join([*(f'"{n}"' for n in dict.fromkeys(names)), *_CSS_TEXT_END])


def css_code_stack(lang: str, locales_dir: Path | None = None) -> str:
    """Return the CSS ``font-family`` value of the code spans of a report in ``lang``."""
    fonts = [font_for(lang, locales_dir), *SCRIPT_FONTS.values()]
    names = dict.fromkeys(f.mono for f in fonts)
    return ", ".join([*(f'"{n}"' for n in names), *_CSS_CODE_END])


@cache
def _read(directory: Path, lang: str) -> dict:
    return json.loads((directory / f"{lang}.json").read_text(encoding="utf-8"))


@cache
def _scan(directory: Path) -> dict[str, str]:
    """Return ``{code: script}`` of every locale file in ``directory``, each one checked."""
    found: dict[str, str] = {}
    for path in sorted(directory.glob("*.json")):
        code = path.stem
        where = f"{path.parent.name}/{path.name}"
        if not _CODE.match(code):
            raise ParameterError(
                f"{where}: expected a file named by a language code such as en or pt-BR"
            )
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ParameterError(f"{where}: not a JSON locale file ({exc})") from None
        if not isinstance(doc, dict) or doc.get("lang") != code:
            found_lang = doc.get("lang") if isinstance(doc, dict) else type(doc).__name__
            raise ParameterError(f"{where}: field 'lang': expected {code!r}, found {found_lang!r}")
        script = doc.get("script")
        if script not in SCRIPT_FONTS:
            raise ParameterError(
                f"{where}: field 'script': expected one of {', '.join(SCRIPT_FONTS)}"
                f" (an ISO 15924 code with a font in languages.SCRIPT_FONTS), found {script!r}"
            )
        found[code] = script
    if not found:
        raise ParameterError(f"{directory}: no locale file (<code>.json)")
    return found
