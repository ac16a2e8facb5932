"""Words that may get an audience flagged by Meta's integrity rules, and what Meta's audience statuses mean.

Since 2025-09-02 Meta flags audiences whose name, description or rule suggests a sensitive category
(health, financial status…): ``operation_status`` 471 with ``fields_violating_integrity_policy``, after
which uploads, edits and lookalikes of it are refused (docs/meta-api.md §8, "Integrity flags").  Meta
publishes no word list; its own examples are "arthritis", "diabetes", "credit score" and "high income".
:data:`WORDS` is fbsync's **heuristic** (French and English), used only to *warn* in ``validate`` and
``plan`` before Meta flags anything; it never blocks a sync.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

#: Health and financial-status words (French and English), matched as whole words, accents and case ignored.
WORDS: tuple[str, ...] = (
    # health (Meta's examples: arthritis, diabetes)
    "arthritis",
    "arthrite",
    "arthrose",
    "diabetes",
    "diabetic",
    "diabète",
    "diabétique",
    "cancer",
    "oncology",
    "oncologie",
    "chemotherapy",
    "chimiothérapie",
    "depression",
    "dépression",
    "anxiety",
    "anxiété",
    "hiv",
    "vih",
    "sida",
    "aids",
    "pregnant",
    "pregnancy",
    "enceinte",
    "grossesse",
    "fertility",
    "fertilité",
    "disability",
    "handicap",
    "alzheimer",
    "obesity",
    "obésité",
    "addiction",
    "alcoolisme",
    "rehab",
    "mental health",
    "santé mentale",
    "illness",
    "maladie",
    "medical condition",
    "pathologie",
    # financial status (Meta's examples: credit score, high income)
    "credit score",
    "score de crédit",
    "high income",
    "hauts revenus",
    "revenus élevés",
    "low income",
    "faibles revenus",
    "debt",
    "dette",
    "dettes",
    "surendettement",
    "overindebted",
    "bankruptcy",
    "faillite",
    "payday loan",
    "crédit renouvelable",
    "unemployed",
    "chômeur",
    "chômage",
    "welfare",
    "rsa",
)


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


_PATTERN = re.compile(r"\b(?:" + "|".join(re.escape(_fold(w)) for w in sorted(WORDS, key=len, reverse=True)) + r")\b")


def sensitive_words(text: str | None) -> list[str]:
    """The heuristic's words found in ``text`` (accents and case ignored), as the text spells them, each once."""
    if not text:
        return []
    folded: list[str] = []
    origin: list[int] = []  # index in ``text`` of each folded character
    for i, ch in enumerate(text):
        for f in _fold(ch):
            folded.append(f)
            origin.append(i)
    flat = "".join(folded)
    return list(dict.fromkeys(text[origin[m.start()] : origin[m.end() - 1] + 1] for m in _PATTERN.finditer(flat)))


def warnings(named: Iterable[tuple[str, str | None, str | None]]) -> list[str]:
    """One sentence per (audience, display name, description) whose words may get it flagged."""
    out = []
    for name, display, description in named:
        for field, text in (("display name", display), ("description", description)):
            found = sensitive_words(text)
            if found:
                out.append(
                    f"audience {name}: its {field} contains {', '.join(repr(w) for w in found)}, which may get it "
                    "flagged by Meta's integrity rules (health or financial status); a neutral name is safer "
                    "(fbsync's heuristic: Meta publishes no list)."
                )
    return out


# ---------------------------------------------------------------------------- Meta's operation_status
FLAGGED = 471
REPLACING = 414
#: operation_status code → what it means for the person (docs/meta-api.md §1.2 and §8).
OPERATION: Mapping[int, str] = {
    100: "expiring: unused for two years, Meta deletes it 90 days after delete_time unless an ad uses it",
    411: "low match rate: few of the rows sent matched Meta accounts; send more keys per row (phone, name, city)",
    412: "many invalid entries: check the keys' columns (the summary's drop reasons)",
    414: "a replace is in progress; fbsync waits for it before sending anything to this audience",
    415: "the last replace failed; the next sync replaces again",
    441: "still populating: Meta is matching the rows sent (up to 24 hours)",
    450: "out of date: a lookalike unused for 90 days goes inactive; use it in an ad set to refresh it",
    470: "inactive: the ad account that created it is no longer active; reactivate it or recreate the audience",
    471: "flagged for integrity reasons: uploads and edits are refused; appeal in Audience Manager, or declare a "
    "new audience under another name and description",
}


def operation(info: Mapping[str, Any] | None) -> tuple[int | None, str | None]:
    """Meta's operation_status of an audience object: (code, one sentence) for the codes a person should know."""
    st = (info or {}).get("operation_status")
    if not isinstance(st, Mapping):
        return None, None
    try:
        code = int(st.get("code"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None, None
    return code, OPERATION.get(code)


def flagged_message(name: str, info: Mapping[str, Any]) -> str | None:
    """The sentence for an audience Meta flagged (471), naming the fields it flagged, else None."""
    code, _ = operation(info)
    if code != FLAGGED:
        return None
    fields = [str(f) for f in info.get("fields_violating_integrity_policy") or []]
    which = " and ".join(fields) if fields else "name, description or rule"
    return (
        f"{name}: Meta flagged this audience for integrity reasons (its {which} suggests a sensitive category), so "
        "it refuses uploads and edits; appeal in Audience Manager, or declare a new audience under another name "
        "and description (Meta refuses to rename a flagged customer list)."
    )
