"""No visible string or alert message lacks a language: the console's dictionaries (i18n.js and
the files it merges) hold the same keys in zh and en; every key the console's JS and HTML use
is in both; the server's catalogue and the console's alert texts hold the same keys; and every
message key a detector can emit is in both catalogues."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from villagewatch import catalogue
from villagewatch.edge.vision.rules import DETECTION_OF

SRC = Path(catalogue.__file__).parent
CONSOLE = SRC / "api" / "console"
_KEY = re.compile(r"^\s*(?:'([^']+)'|\"([^\"]+)\")\s*:", re.MULTILINE)
_SPREAD = re.compile(r"^\s*\.\.\.(\w+),", re.MULTILINE)


def _block(text: str, opening: str) -> str:
    start = text.index(opening) + len(opening)
    return text[start : text.index("\n};", start)]


def _keys_of(block: str) -> set[str]:
    return {a or b for a, b in _KEY.findall(block)}


def dictionaries() -> dict[str, set[str]]:
    """Language → every key of i18n.js's dictionary, with the blocks it spreads in."""
    main = (CONSOLE / "i18n.js").read_text(encoding="utf-8")
    imports = {
        alias: (CONSOLE / file, name)
        for names, file in re.findall(r"import \{([^}]*)\} from '\./(\w+\.js)'", main)
        for name, alias in re.findall(r"(\w+) as (\w+)", names)
    }
    out: dict[str, set[str]] = {}
    for lang in ("zh", "en"):
        block = _block(main, f"const {lang} = {{")
        keys = _keys_of(block)
        for alias in _SPREAD.findall(block):
            file, name = imports[alias]
            keys |= _keys_of(_block(file.read_text(encoding="utf-8"), f"export const {name} = {{"))
        out[lang] = keys
    return out


def used_keys() -> tuple[set[str], set[str]]:
    """The keys the console's JS and HTML name literally, and the prefixes of those built
    from a value (t(`sev.${severity}`))."""
    literal: set[str] = set()
    prefixes: set[str] = set()
    for path in [*CONSOLE.glob("*.js"), *CONSOLE.glob("*.html")]:
        text = path.read_text(encoding="utf-8")
        literal |= set(re.findall(r"\bt\(\s*['\"]([\w.\-]+)['\"]", text))
        literal |= set(re.findall(r"data-i18n(?:-ph|-title)?=\"([\w.\-]+)\"", text))
        literal |= set(re.findall(r"'data-i18n(?:-ph|-title)?':\s*'([\w.\-]+)'", text))
        prefixes |= set(re.findall(r"\bt\(\s*`([\w.\-]+)\$\{", text))
    return literal, prefixes


def emitted_message_keys() -> set[str]:
    """Every message key written in a detector's source (literal keys, and the health tests'
    ``<test>_passes``)."""
    families = "water_level|water_rise|rain|lock|sos|camera|offline|disk|health|anomaly|removed"
    found: set[str] = set()
    for path in [*(SRC / "detectors").glob("*.py"), SRC / "detect" / "openalerts.py"]:
        text = path.read_text(encoding="utf-8")
        found |= set(re.findall(rf"\"((?:{families})(?:\.[a-z_]+)?)\"", text))
    found |= {"health.range_passes", "health.flat_passes"}
    return {k for k in found if "." in k or k == "removed"}


def test_zh_and_en_of_the_console_hold_the_same_keys() -> None:
    d = dictionaries()
    assert sorted(d["zh"] - d["en"]) == [], "in zh only"
    assert sorted(d["en"] - d["zh"]) == [], "in en only"


def test_every_key_the_console_uses_is_in_both_languages() -> None:
    d = dictionaries()
    literal, prefixes = used_keys()
    assert literal, "the scan found the console's keys"
    for lang in ("zh", "en"):
        assert sorted(literal - d[lang]) == [], f"missing in {lang}"
        empty = sorted(p for p in prefixes if not any(k.startswith(p) for k in d[lang]))
        assert empty == [], f"no {lang} key under these prefixes"


def test_the_server_catalogue_and_the_console_hold_the_same_alert_keys() -> None:
    assert sorted(set(catalogue.ZH) ^ set(catalogue.EN)) == []
    shared = {k for k in catalogue.ZH if not k.startswith("notify.")}
    d = dictionaries()
    for lang in ("zh", "en"):
        console = {k for k in d[lang] if k.startswith(("msg.", "akind.", "detector."))}
        assert sorted(shared - console) == [], f"missing in the console's {lang}"
        assert sorted(console - shared) == [], f"missing in the server's catalogue ({lang})"


def test_the_console_alert_texts_are_the_server_catalogue_word_for_word() -> None:
    text = (CONSOLE / "alerttext.js").read_text(encoding="utf-8")
    entry = re.compile(r"^\s*'([^']+)':\s*(\".*\"),$", re.MULTILINE)
    for lang, server in (("zh", catalogue.ZH), ("en", catalogue.EN)):
        block = _block(text, f"export const {lang} = {{")
        console = {k: json.loads(v) for k, v in entry.findall(block)}
        shared = {k: v for k, v in server.items() if not k.startswith("notify.")}
        assert console == shared, lang


def test_every_message_a_detector_can_emit_is_in_both_catalogues() -> None:
    keys = emitted_message_keys()
    assert len(keys) > 30, sorted(keys)
    d = dictionaries()
    for lang, server in (("zh", catalogue.ZH), ("en", catalogue.EN)):
        assert sorted(k for k in keys if f"msg.{k}" not in server) == [], lang
        assert sorted(k for k in keys if f"msg.{k}" not in d[lang]) == [], lang


@pytest.mark.parametrize("kind", sorted({*DETECTION_OF.values(), "level", "sos", "link_down"}))
def test_alert_kinds_have_names_in_both_languages(kind: str) -> None:
    for lang in catalogue.LOCALES:
        assert catalogue.kind_name(kind, lang) != kind, lang


def test_the_same_fields_in_both_languages() -> None:
    field = re.compile(r"\{(\w+)(?:\|\w+)?\}")
    for key, zh in catalogue.ZH.items():
        if key.startswith("notify."):
            continue  # the English digest's title names the place by its id on purpose
        assert set(field.findall(zh)) == set(field.findall(catalogue.EN[key])), key
