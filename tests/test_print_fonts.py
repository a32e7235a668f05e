"""The PDF printer's TrueType copies of the report's fonts (analysis.print_fonts)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from analysis import print_fonts, report

#: A few characters of each kind the copies carry: Latin, digits, punctuation, Hangul.
SAMPLE = "Ag:1가힣"
needs_font = pytest.mark.skipif(
    not print_fonts.find_faces(("Noto Sans CJK KR",)), reason="needs Debian fonts-noto-cjk"
)


@pytest.fixture(scope="module")
def small_copies(tmp_path_factory) -> Path:
    """Copies of the installed faces holding only SAMPLE's characters (seconds, not minutes)."""
    directory = tmp_path_factory.mktemp("print-fonts") / "fonts"
    ranges = tuple((ord(c), ord(c)) for c in SAMPLE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(print_fonts, "RANGES", ranges)
        patch.setattr(print_fonts, "report_families", lambda: ("Noto Sans CJK KR",))
        assert print_fonts.build_print_fonts(directory, workers=1) is not None
    return directory


@needs_font
def test_copies_have_truetype_outlines_and_the_originals_metrics(small_copies):
    faces = print_fonts.find_faces(("Noto Sans CJK KR",))
    regular = next(f for f in faces if f.style == "Regular")
    original = TTFont(regular.path, fontNumber=regular.index, lazy=True)
    copy = TTFont(small_copies / "fonts" / "NotoSansCJKKRTrueType-Regular.ttf")
    assert "glyf" in copy and "CFF " not in copy
    assert copy["name"].getDebugName(1) == "Noto Sans CJK KR TrueType"
    assert copy["name"].getDebugName(13) == original["name"].getDebugName(13)  # the licence
    cmap, source_cmap = copy.getBestCmap(), original.getBestCmap()
    for char in SAMPLE:
        name = cmap[ord(char)]
        assert copy["hmtx"][name][0] == original["hmtx"][source_cmap[ord(char)]][0], char
        assert copy["glyf"][name].numberOfContours > 0, char
    assert ord("B") not in cmap  # outside the ranges: left to the original
    assert copy["OS/2"].sTypoAscender == original["OS/2"].sTypoAscender
    assert copy["OS/2"].usWeightClass == original["OS/2"].usWeightClass


@needs_font
def test_a_second_build_from_the_same_fonts_converts_nothing(small_copies, monkeypatch):
    def convert(*_args, **_kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(print_fonts, "convert_face", convert)
    ranges = tuple((ord(c), ord(c)) for c in SAMPLE)
    monkeypatch.setattr(print_fonts, "RANGES", ranges)
    monkeypatch.setattr(print_fonts, "report_families", lambda: ("Noto Sans CJK KR",))
    assert print_fonts.build_print_fonts(small_copies, workers=1) == small_copies / "fonts.conf"


def test_the_config_puts_each_copy_first_under_its_original_name(tmp_path):
    config = print_fonts.write_config(tmp_path, ("Noto Sans CJK KR", "A & <B>"))
    text = config.read_text(encoding="utf-8")
    assert "<string>Noto Sans CJK KR</string>" in text
    assert '<edit name="family" mode="prepend" binding="strong">' in text
    assert "<string>Noto Sans CJK KR TrueType</string>" in text
    assert "<string>A &amp; &lt;B&gt;</string>" in text  # names are escaped, never markup
    assert text.index("<cachedir>") < text.index("<include")


def test_without_a_complete_set_the_printer_keeps_its_environment(tmp_path):
    assert print_fonts.printer_environment(tmp_path) is None
    print_fonts.write_config(tmp_path, ("Noto Sans CJK KR",))
    (tmp_path / "manifest.json").write_text(
        '{"faces": [["Noto Sans CJK KR", "Regular", "x", 1, 0, 0]]}', encoding="utf-8"
    )
    assert print_fonts.printer_environment(tmp_path) is None  # its font file is missing
    (tmp_path / "fonts").mkdir()
    (tmp_path / "fonts" / "NotoSansCJKKRTrueType-Regular.ttf").touch()
    env = print_fonts.printer_environment(tmp_path)
    assert env is not None and env["FONTCONFIG_FILE"] == str(tmp_path / "fonts.conf")


@needs_font
@pytest.mark.skipif(
    report.find_chromium() is None or shutil.which("pdffonts") is None,
    reason="needs Debian chromium and poppler-utils",
)
def test_chromium_embeds_the_copies_as_truetype_not_type3(small_copies, monkeypatch):
    monkeypatch.setattr(
        report, "printer_environment", lambda: print_fonts.printer_environment(small_copies)
    )
    page = (
        '<html lang="ko"><body style="font-family: \'Noto Sans CJK KR\'">'
        f"<p>{SAMPLE}</p><p><b>{SAMPLE}</b></p></body></html>"
    )
    exporter = report.DebianWebPDFExporter(executable_path=report.find_chromium())
    pdf = small_copies.parent / "page.pdf"
    pdf.write_bytes(exporter.run_playwright(page))
    fonts = subprocess.run(
        ["pdffonts", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    assert "NotoSansCJKKRTrueType-Regular" in fonts and "NotoSansCJKKRTrueType-Bold" in fonts
    assert "Type 3" not in fonts


def _fake_set(directory: Path) -> None:
    """A complete set of copies in ``directory`` (an empty font file is enough to be found)."""
    directory.mkdir(parents=True)
    print_fonts.write_config(directory, ("Noto Sans CJK KR",))
    (directory / "manifest.json").write_text(
        '{"faces": [["Noto Sans CJK KR", "Regular", "x", 1, 0, 0]]}', encoding="utf-8"
    )
    (directory / "fonts").mkdir()
    (directory / "fonts" / "NotoSansCJKKRTrueType-Regular.ttf").touch()


def test_the_printer_finds_copies_left_in_the_earlier_folder(tmp_path, monkeypatch):
    new = tmp_path / "share" / "supabase-postmortem" / "print-fonts"
    old = tmp_path / "share" / "eventlive-postmortem" / "print-fonts"
    monkeypatch.setattr(print_fonts, "FONTS_DIR", new)
    monkeypatch.setattr(print_fonts, "LEGACY_FONTS_DIR", old)
    assert print_fonts.printer_config() is None
    _fake_set(old)
    assert print_fonts.printer_config() == old / "fonts.conf"
    _fake_set(new)
    assert print_fonts.printer_config() == new / "fonts.conf"  # the new folder wins


def test_the_next_setup_moves_the_earlier_copies_without_converting(tmp_path, monkeypatch):
    new = tmp_path / "share" / "supabase-postmortem" / "print-fonts"
    old = tmp_path / "share" / "eventlive-postmortem" / "print-fonts"
    _fake_set(old)
    assert print_fonts.adopt_legacy_fonts(new, old) == new / "fonts.conf"
    assert not old.parent.exists() and print_fonts.printer_config(new) is not None
    config = (new / "fonts.conf").read_text(encoding="utf-8")
    assert str(new / "fonts") in config and "eventlive-postmortem" not in config  # its new place
    assert print_fonts.adopt_legacy_fonts(new, old) is None  # nothing left to move
