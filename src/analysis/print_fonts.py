"""TrueType copies of the report's fonts, for the PDF printer only.

Chromium's PDF writer (Skia) embeds a subset of a font only when its glyphs are TrueType
outlines; a font with CFF outlines, as Noto Sans CJK is, reaches the PDF as Type 3 fonts (a
drawing per glyph, 159 of them in the shipped report's PDF), and writing them was about half
of Chromium's time printing the report (docs/performance.md, "The report around the
statistics"). :func:`build_print_fonts` converts the characters of the report's scripts in
each installed face of the report's fonts (:data:`analysis.languages.SCRIPT_FONTS`) to
TrueType outlines, once per installation (``make setup``), and writes a fontconfig file that
puts each copy first wherever its original family is asked for. :func:`printer_environment`
hands that file to the printer; the HTML page, the figures and everything else still use the
installed fonts as they are, and without the copies the PDF is printed as before.

The copies keep their originals' metrics, layout features and name records (copyright,
licence), under a family name of their own; their outlines are converted from cubic to
quadratic curves within one font unit. A character outside :data:`RANGES` is printed from the
original font, as a Type 3 glyph.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from analysis import languages

#: Where the copies live: beside the interpreter's packages, as part of the installation.
FONTS_DIR = Path(sys.prefix) / "share" / "supabase-postmortem" / "print-fonts"
#: Where an installation made before the package's generic name keeps its copies. The printer
#: still finds them there; the next ``make`` (``python -m analysis print-fonts``) moves them to
#: :data:`FONTS_DIR` without converting anything.
LEGACY_FONTS_DIR = Path(sys.prefix) / "share" / "eventlive-postmortem" / "print-fonts"
CONFIG_NAME = "fonts.conf"
MANIFEST_NAME = "manifest.json"
#: Faces converted: the weights the page's CSS uses (text and bold).
STYLES = ("Regular", "Bold")
#: Characters converted (inclusive code point ranges): Latin with its punctuation and
#: symbols, the Hangul syllables and jamo, CJK punctuation and full-width forms. Other
#: characters fall back to the original font.
RANGES = (
    (0x0020, 0x007E),  # Basic Latin
    (0x00A0, 0x017F),  # Latin-1 Supplement, Latin Extended-A
    (0x2000, 0x206F),  # General Punctuation
    (0x20A0, 0x20CF),  # Currency Symbols
    (0x2100, 0x22FF),  # Letterlike Symbols, Number Forms, Arrows, Mathematical Operators
    (0x2460, 0x25FF),  # Enclosed Alphanumerics, Box Drawing, Block Elements, Geometric Shapes
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x3000, 0x303F),  # CJK Symbols and Punctuation
    (0x3130, 0x318F),  # Hangul Compatibility Jamo
    (0xAC00, 0xD7A3),  # Hangul Syllables
    (0xFF00, 0xFFEF),  # Halfwidth and Fullwidth Forms
)
#: Largest distance, in font units, between a converted curve and its original.
MAX_ERROR = 1.0


@dataclass(frozen=True)
class Face:
    """One installed face of a report font: its family, style, file and index in the file."""

    family: str
    style: str
    path: str
    index: int


def copy_family(family: str) -> str:
    """Return the family name of the TrueType copy of ``family``."""
    return f"{family} TrueType"


def report_families() -> tuple[str, ...]:
    """Return the families the page names (text and code of every script), in order."""
    fonts = languages.SCRIPT_FONTS.values()
    return tuple(dict.fromkeys([f.family for f in fonts] + [f.mono for f in fonts]))


def find_faces(families: tuple[str, ...] | None = None) -> list[Face]:
    """Return the installed faces (:data:`STYLES`) of the report's families, from fontconfig."""
    if shutil.which("fc-list") is None:
        return []
    faces = []
    for family in report_families() if families is None else families:
        for style in STYLES:
            out = subprocess.run(
                ["fc-list", f"{family}:style={style}", "family", "file", "index"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            # Lines like "/path/font.ttc: Noto Sans CJK KR,...:index=1"; the first face wins.
            for line in sorted(out.splitlines()):
                path, _, rest = line.partition(": ")
                names, _, index = rest.rpartition(":index=")
                if family in names.split(",") and index.strip().isdigit():
                    faces.append(Face(family, style, path, int(index)))
                    break
    return faces


def convert_face(face: Face, target: Path) -> None:
    """Write the characters of :data:`RANGES` of ``face`` as a TrueType font to ``target``.

    fontTools' subsetter keeps the characters, every glyph the layout features reach from
    them and those features (the page prints with the same glyph choices, kerning and
    locale forms as its original); the kept glyphs' CFF outlines are then redrawn as
    TrueType ones. The CFF table is taken out before subsetting: subsetting it would cost
    several times the conversion, for a table the copy does not keep.
    """
    from fontTools import subset
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable

    options = subset.Options()
    options.font_number = face.index
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    font = subset.load_font(face.path, options)
    font.getGlyphOrder()  # read from the CFF table, before it goes
    cff = font["CFF "].cff
    charstrings = cff[cff.fontNames[0]].CharStrings
    for tag in ("CFF ", "VORG"):  # the CFF outlines, and their vertical origins
        if tag in font:
            del font[tag]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[c for low, high in RANGES for c in range(low, high + 1)])
    subsetter.subset(font)
    order = font.getGlyphOrder()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for name in order:
        pen = TTGlyphPen(None)
        # CFF contours run counter-clockwise, TrueType's clockwise.
        charstrings[name].draw(Cu2QuPen(pen, MAX_ERROR, reverse_direction=True))
        glyf.glyphs[name] = pen.glyph()
    for name in order:
        glyf.glyphs[name].recalcBounds(glyf)
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    font.sfntVersion = "\x00\x01\x00\x00"
    font["head"].glyphDataFormat = 0
    font["post"].formatType = 3.0  # no glyph names, as in most TrueType fonts
    maxp = font["maxp"]
    maxp.tableVersion = 0x00010000
    for key in (
        "maxZones",
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
        "maxPoints",
        "maxContours",
        "maxCompositePoints",
        "maxCompositeContours",
        "maxComponentDepth",
    ):
        setattr(maxp, key, 0)
    maxp.maxZones = 1
    _rename(font, face)
    font.save(str(target))  # computes loca, maxp's counts and the bounding boxes


def _rename(font: object, face: Face) -> None:
    """Give the copy its own family name (:func:`copy_family`) in every record of the name table."""
    family = copy_family(face.family)
    values = {
        1: family,
        2: face.style,
        3: f"{family} {face.style}",
        4: f"{family} {face.style}",
        6: f"{family.replace(' ', '')}-{face.style}",
        16: family,
        17: face.style,
    }
    table = font["name"]
    table.names = [n for n in table.names if n.nameID not in values]
    for name_id, value in values.items():
        table.setName(value, name_id, 3, 1, 0x409)
        table.setName(value, name_id, 1, 0, 0)
    table.setName(
        f"TrueType outlines of {face.family} {face.style}, for PDF printing", 10, 3, 1, 0x409
    )


def _fingerprint(faces: list[Face]) -> list[list]:
    """Return what the copies are made from: each face, its file's size and modification time."""
    rows = []
    for face in faces:
        stat = os.stat(face.path)
        rows.append(
            [face.family, face.style, face.path, face.index, stat.st_size, stat.st_mtime_ns]
        )
    return rows


def write_config(directory: Path, families: tuple[str, ...]) -> Path:
    """Write the printer's fontconfig file: the system's, plus the copies ahead of originals."""
    base = os.environ.get("FONTCONFIG_FILE") or "/etc/fonts/fonts.conf"
    rules = "".join(
        '  <match target="pattern">\n'
        f'    <test qual="any" name="family"><string>{escape(family)}</string></test>\n'
        '    <edit name="family" mode="prepend" binding="strong">'
        f"<string>{escape(copy_family(family))}</string></edit>\n"
        "  </match>\n"
        for family in families
    )
    text = (
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        "<fontconfig>\n"
        # First, so the copies' cache is written here (fontconfig writes to the first
        # writable cache directory), never into the system's.
        f"  <cachedir>{escape(str(directory / 'cache'))}</cachedir>\n"
        f'  <include ignore_missing="yes">{escape(base)}</include>\n'
        f"  <dir>{escape(str(directory / 'fonts'))}</dir>\n"
        f"{rules}"
        "</fontconfig>\n"
    )
    path = directory / CONFIG_NAME
    path.write_text(text, encoding="utf-8")
    return path


def build_print_fonts(directory: Path = FONTS_DIR, *, workers: int = 2) -> Path | None:
    """Convert the installed report fonts into ``directory``; return its fontconfig file.

    Nothing is converted when the copies there were made from the same font files (the
    manifest says so). Returns None when no face of the report's fonts is installed.
    """
    faces = find_faces()
    if not faces:
        return None
    if directory == FONTS_DIR:
        adopt_legacy_fonts()
    fingerprint = _fingerprint(faces)
    manifest = directory / MANIFEST_NAME
    if printer_config(directory) is not None:
        if json.loads(manifest.read_text(encoding="utf-8"))["faces"] == fingerprint:
            return directory / CONFIG_NAME
    directory.parent.mkdir(parents=True, exist_ok=True)
    # Built aside and renamed into place: a printer never sees half a set.
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    staging.chmod(0o755)  # readable by every user of the installation, as the venv is
    try:
        (staging / "fonts").mkdir()
        targets = [
            staging / "fonts" / f"{copy_family(f.family).replace(' ', '')}-{f.style}.ttf"
            for f in faces
        ]
        _convert_all(faces, targets, workers)
        families = tuple(dict.fromkeys(f.family for f in faces))
        write_config(staging, families)
        manifest_text = json.dumps({"faces": fingerprint}, indent=1)
        (staging / MANIFEST_NAME).write_text(manifest_text, encoding="utf-8")
        old = directory.with_name(f".{directory.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            directory.rename(old)
        staging.rename(directory)
        # The config names its own directory: rewrite it at its final place.
        config = write_config(directory, families)
        shutil.rmtree(old, ignore_errors=True)
        _cache_fonts(config, directory / "fonts")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory / CONFIG_NAME


def adopt_legacy_fonts(directory: Path = FONTS_DIR, legacy: Path = LEGACY_FONTS_DIR) -> Path | None:
    """Move a complete set of copies from ``legacy`` to ``directory``; return its config.

    Nothing moves when ``directory`` already holds a complete set or ``legacy`` does not
    (None). The config names its own directory, so it is written again at the new place; the
    emptied ``legacy`` parent is removed.
    """
    if printer_config(directory) is not None or printer_config(legacy) is None:
        return None
    directory.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(directory, ignore_errors=True)  # an incomplete set: replaced
    legacy.rename(directory)
    with contextlib.suppress(OSError):
        legacy.parent.rmdir()
    families = tuple(
        dict.fromkeys(
            family
            for family, *_ in json.loads((directory / MANIFEST_NAME).read_text("utf-8"))["faces"]
        )
    )
    config = write_config(directory, families)
    _cache_fonts(config, directory / "fonts")
    return config


def _cache_fonts(config: Path, fonts: Path) -> None:
    """Let fontconfig index the copies now, not in the first printer that meets them."""
    if shutil.which("fc-cache"):
        env = {**os.environ, "FONTCONFIG_FILE": str(config)}
        subprocess.run(["fc-cache", str(fonts)], env=env, capture_output=True, check=False)


def _convert_all(faces: list[Face], targets: list[Path], workers: int) -> None:
    """Convert the faces, on up to ``workers`` processes (a face takes seconds)."""
    if workers <= 1 or len(faces) <= 1:
        for face, target in zip(faces, targets, strict=True):
            convert_face(face, target)
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done in [pool.submit(convert_face, f, t) for f, t in zip(faces, targets, strict=True)]:
            done.result()


def printer_config(directory: Path | None = None) -> Path | None:
    """Return the printer's fontconfig file when a complete set of copies is installed.

    Without ``directory``: :data:`FONTS_DIR`, else :data:`LEGACY_FONTS_DIR`.
    """
    if directory is None:
        return printer_config(FONTS_DIR) or printer_config(LEGACY_FONTS_DIR)
    config, manifest = directory / CONFIG_NAME, directory / MANIFEST_NAME
    if not (config.is_file() and manifest.is_file()):
        return None
    try:
        faces = json.loads(manifest.read_text(encoding="utf-8"))["faces"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    for family, style, *_ in faces:
        name = f"{copy_family(family).replace(' ', '')}-{style}.ttf"
        if not (directory / "fonts" / name).is_file():
            return None
    return config


def printer_environment(directory: Path | None = None) -> dict[str, str] | None:
    """Return the printer's environment with the copies in its fontconfig, or None without them."""
    config = printer_config(directory)
    if config is None:
        return None
    return {**os.environ, "FONTCONFIG_FILE": str(config)}


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis print-fonts``: build the copies (``make setup`` runs it)."""
    import argparse

    argparse.ArgumentParser(
        prog="python -m analysis print-fonts", description=__doc__.splitlines()[0]
    ).parse_args(argv)
    try:
        config = build_print_fonts()
    except Exception as exc:  # noqa: BLE001 - a font fontTools cannot read: one line, PDF as before
        reason = " ".join(str(exc).split())[:200]
        print(
            f"print-fonts: conversion failed ({type(exc).__name__}: {reason});"
            " the PDF prints the text as Type 3 glyphs"
        )
        return 1
    if config is None:
        print(
            "print-fonts: no face of "
            + ", ".join(report_families())
            + " is installed; the PDF prints the text as Type 3 glyphs"
        )
        return 0
    print(f"print-fonts: TrueType copies for the PDF printer in {config.parent}")
    return 0
