"""Enrichment rules: regions, user kinds, normalisation and revert summaries."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wikistream.layers.enrichment import (
    Revert,
    detect_revert,
    language_of,
    normalize_user,
    region_of,
    user_kind,
)
from wikistream.layers.silver import _user_rules


@pytest.mark.parametrize(
    ("domain", "language", "region"),
    [
        ("en.wikipedia.org", "en", "anglosphere"),
        ("de.wikipedia.org", "de", "europe"),
        ("ja.wikipedia.org", "ja", "asia"),
        ("fa.wikipedia.org", "fa", "middle_east"),
        ("sw.wikipedia.org", "sw", "africa"),
        ("fr.wiktionary.org", "fr", "europe"),
        ("www.wikidata.org", None, "global"),
        ("commons.wikimedia.org", None, "global"),
        ("xx.wikipedia.org", "xx", "other"),  # unknown language: kept, as other
        ("example.org", None, "other"),
        (None, None, "other"),
    ],
)
def test_language_and_region(domain: str | None, language: str | None, region: str) -> None:
    assert language_of(domain) == language
    assert region_of(domain) == region


def test_the_region_map_is_configurable() -> None:
    assert region_of("xx.wikipedia.org", {"xx": "europe"}) == "europe"


@pytest.mark.parametrize(
    ("user", "bot", "kind"),
    [
        ("Alice", False, "registered"),
        ("Alice", True, "bot"),
        ("192.0.2.7", False, "ip"),
        ("2001:db8::1", False, "ip"),
        ("2001:DB8:0:0:0:0:0:1", None, "ip"),
        ("~2025-31427-81", False, "temporary"),
        ("~2026-1234", False, "temporary"),
        ("~2025-12345-67890-1", False, "temporary"),  # any number of 5-digit groups
        ("~2026-12345-67890-12345-6", None, "temporary"),
        ("~Tilde", False, "registered"),
        ("999.1.1.1", False, "registered"),
        (None, False, None),
    ],
)
def test_user_kind(user: str | None, bot: bool | None, kind: str | None) -> None:
    assert user_kind(user, bot) == kind


def test_normalize_user_strips_control_and_invisible_characters() -> None:
    assert normalize_user(" Alice\u200b\x07\n") == "Alice"
    assert normalize_user("\u200e") is None
    assert normalize_user(None) is None


@given(st.text())
def test_normalize_user_is_idempotent_and_never_has_control_characters(text: str) -> None:
    once = normalize_user(text)
    assert normalize_user(once) == once
    assert once is None or all(ord(c) >= 32 for c in once)


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        ("Undid revision [[Special:Diff/1234|1234]] by [[Special:Contributions/Foo Bar|Foo Bar]] "
         "([[User talk:Foo Bar|talk]])", Revert("undo", "Foo Bar")),
        ("Undid revision 1234 by 192.0.2.7 (talk)", Revert("undo", "192.0.2.7")),
        ("Reverted edits by [[Special:Contributions/~2025-31427-81|~2025-31427-81]] "
         "([[User talk:~2025-31427-81|talk]]) to last revision by Y",
         Revert("rollback", "~2025-31427-81")),
        ("Reverted edits by Vandal (talk) to last revision by Y (HG) (3.4.10)",
         Revert("huggle", "Vandal")),
        ("Reverted 1 edit by [[Special:Contributions/Vandal|Vandal]] ([[User talk:Vandal|talk]]): "
         "identified as vandalism (TW)", Revert("twinkle", "Vandal")),
        ("Reverting possible vandalism by 2001:db8::1 to version by Example. Report False "
         "Positive? Thanks, ClueBot NG.", Revert("cluebot", "2001:db8::1")),
        ("Änderungen von [[Spezial:Beiträge/Hans|Hans]] ([[Benutzer Diskussion:Hans|Diskussion]]) "
         "rückgängig gemacht und letzte Version von Y wiederhergestellt",
         Revert("rollback", "Hans")),
        ("copyedit", None),
        ("/* wbsetclaim-update:2||1 */ [[Property:P31]]: [[Q5]]", None),
        (None, None),
    ],
)  # fmt: skip
def test_revert_summaries(comment: str | None, expected: Revert | None) -> None:
    assert detect_revert(comment) == expected


@given(st.text(max_size=300))
def test_detect_revert_never_crashes(comment: str) -> None:
    result = detect_revert(comment)
    assert result is None or result.method


_TRICKY_NAMES = [
    "Alice", " Alice ", "Al ice", "", "  ", "a\u200bb", "Zoë", "Zoe\u0308", "x\x00y", "\t",
    "1.2.3.4", "01.2.3.4", "256.1.1.1", "0.0.0.0", "255.255.255.255", "1.2.3", "1.2.3.4.5",
    "::1", "fe80::1%eth0", "::ffff:1.2.3.4", "dead:beef::", "1:2:3:4:5:6:7:8:9", "Ab:cd",
    "~2025-12", "~2025-1-2", "~2025-", "~٢٠٢٥-1", "~2025-12 ", "Bot", None,
]  # fmt: skip


@settings(deadline=None)  # the first call compiles the regexes
@given(st.lists(st.one_of(st.sampled_from(_TRICKY_NAMES), st.text(max_size=12)), max_size=40))
def test_the_batch_rules_for_users_equal_the_rules_per_name(names: list[str | None]) -> None:
    """Silver applies the user rules to distinct names with Arrow (RE2 for IPv4 and
    temporary accounts); the answers must be those of `normalize_user` and `user_kind`."""
    users = pa.array(list(dict.fromkeys(names + _TRICKY_NAMES)), pa.large_string())
    normalized, kinds = _user_rules(users)
    expected = [normalize_user(u) for u in users.to_pylist()]
    assert normalized.to_pylist() == expected
    assert kinds.to_pylist() == [user_kind(n, False) for n in expected]
