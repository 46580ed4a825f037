"""Pure enrichment rules for silver: region and language, user kind, reverts.

Engine-agnostic: plain functions on strings, applied by the silver transform in batches.
Mappings are data (documented in docs/layers.md) and configurable through settings.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Language code -> region. Projects without a language (Wikidata, Commons, Meta) are "global".
DEFAULT_REGIONS: dict[str, str] = {
    **dict.fromkeys(
        ["en", "simple"], "anglosphere"
    ),
    **dict.fromkeys(
        ["de", "fr", "it", "es", "pt", "nl", "pl", "sv", "uk", "ru", "cs", "ca", "fi", "no",
         "da", "hu", "ro", "el", "bg", "sr", "hr", "sk", "sl", "lt", "lv", "et", "eu", "gl",
         "be", "ga", "cy", "is", "sq", "mk", "bs", "lb", "nn"], "europe"
    ),
    **dict.fromkeys(
        ["ja", "zh", "ko", "vi", "id", "th", "ms", "tl", "ceb", "war", "hi", "bn", "ta", "te",
         "ur", "mr", "ml", "kn", "gu", "pa", "ne", "si", "my", "km", "jv", "su", "kk", "uz",
         "mn", "min"], "asia"
    ),
    **dict.fromkeys(["ar", "fa", "he", "tr", "ku", "arz", "azb", "az", "hy", "ka"], "middle_east"),
    **dict.fromkeys(["sw", "af", "yo", "ha", "am", "zu", "xh", "ig", "so", "mg", "rw"], "africa"),
    **dict.fromkeys(["qu", "gn", "ay", "ht", "nah"], "americas"),
    **dict.fromkeys(["mi", "sm", "to", "fj"], "oceania"),
}  # fmt: skip
GLOBAL_PROJECTS = frozenset(
    {
        "www.wikidata.org",
        "commons.wikimedia.org",
        "meta.wikimedia.org",
        "www.mediawiki.org",
        "species.wikimedia.org",
    }
)
_LANGUAGE_PROJECTS = (
    "wikipedia",
    "wiktionary",
    "wikibooks",
    "wikinews",
    "wikiquote",
    "wikisource",
    "wikiversity",
    "wikivoyage",
)


@lru_cache(maxsize=4096)
def language_of(domain: str | None) -> str | None:
    """`de.wikipedia.org` -> `de`; projects without a language -> None."""
    if not domain:
        return None
    parts = domain.lower().split(".")
    if len(parts) == 3 and parts[1] in _LANGUAGE_PROJECTS and parts[2] == "org":
        return parts[0]
    return None


def region_of(domain: str | None, regions: dict[str, str] | None = None) -> str:
    """The region of a wiki; unknown domains go to `other`, never dropped."""
    if domain and domain.lower() in GLOBAL_PROJECTS:
        return "global"
    language = language_of(domain)
    if language is None:
        return "other"
    return (regions or DEFAULT_REGIONS).get(language, "other")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
TEMPORARY_PATTERN = r"^~[0-9]{4}-[0-9]+(-[0-9]+)*$"  # Arrow (RE2) runs it too: ASCII digits
_TEMPORARY = re.compile(TEMPORARY_PATTERN)

REGISTERED, IP, TEMPORARY, BOT = "registered", "ip", "temporary", "bot"


def normalize_user(user: str | None) -> str | None:
    """Strip control and invisible characters and surrounding space; empty -> None."""
    if user is None:
        return None
    cleaned = unicodedata.normalize("NFC", _CONTROL.sub("", user)).strip()
    return cleaned or None


@lru_cache(maxsize=65536)
def _is_ip(user: str) -> bool:
    try:
        ipaddress.ip_address(user)
    except ValueError:
        return False
    return True


def user_kind(user: str | None, bot: bool | None) -> str | None:
    """registered / ip (IPv4 or IPv6) / temporary (`~2025-…`) / bot; None when redacted."""
    if user is None:
        return None
    if bot:
        return BOT
    if _TEMPORARY.match(user):
        return TEMPORARY
    if _is_ip(user):
        return IP
    return REGISTERED


@dataclass(frozen=True, slots=True)
class Revert:
    method: str
    reverted_user: str | None


def _who(until_paren: bool = False) -> str:
    """A user as a contributions link, or as plain text (up to " (" when names may have spaces)."""
    link = r"\[\[(?:Special:Contributions|Spezial:Beiträge)/(?P<link>[^|\]]+)\|[^\]]*\]\]"
    plain = r"(?P<name>[^\[\]()]+?)(?= \()" if until_paren else r"(?P<name>[^\s\[\]()]+)"
    return f"(?:{link}|{plain})"


_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("cluebot", re.compile(rf"^Reverting possible vandalism by {_who()} to version by")),
    ("twinkle", re.compile(rf"^Reverted \d+ edits? by {_who()}")),
    ("huggle", re.compile(rf"^Reverted edits by {_who(True)} .*\(HG\)")),
    (
        "rollback",
        re.compile(rf"^Reverted edits by {_who(True)} \((?:\[\[[^\]]*\]\]|talk)\) to last"),
    ),
    (
        "undo",
        re.compile(rf"^Undid revision (?:\[\[Special:Diff/\d+\|)?\d+(?:\]\])? by {_who(True)}"),
    ),
    ("undo", re.compile(rf"^Undid revision (?:\[\[Special:Diff/\d+\|)?\d+(?:\]\])? by {_who()}")),
    (
        "rollback",
        re.compile(rf"^Änderungen von {_who(True)} \(.*?\) rückgängig gemacht und letzte"),
    ),
]


def detect_revert(comment: str | None) -> Revert | None:
    """Recognise undo, rollback, Huggle, Twinkle, ClueBot NG and dewiki rollback summaries."""
    if not comment or len(comment) < 12:
        return None
    for method, pattern in _RULES:
        match = pattern.search(comment)
        if match:
            who = match.group("link") or match.group("name")
            return Revert(method, normalize_user(who.replace("_", " ")) if who else None)
    return None
