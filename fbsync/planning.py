"""Pure planning: desired state + ledger + what Meta has → what a sync will do.

No IO, no clock, no environment: every input is a value, so every decision
(create, update, adds/removes vs a full replace, the shrink guard) is a unit test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: mirror/append/replace are the YAML's modes; ``remove`` is ``upload --mode remove`` (remove the listed rows).
Mode = Literal["mirror", "append", "replace", "remove"]
#: Which rows the removals are: ledger rows no longer desired, rows of suppressed people, or the listed rows.
RemovalSource = Literal["stale", "suppressed", "listed"]


@dataclass(frozen=True)
class Remote:
    """What Meta has for an audience (None fields when it does not exist yet)."""

    exists: bool
    name: str | None = None
    description: str | None = None
    size_lower: int | None = None
    size_upper: int | None = None
    value_based: bool | None = None  # None: Meta did not say


def kind_changed(d: Desired, remote: Remote) -> bool:
    """Meta cannot turn a plain customer list into a value-based one, or back, not even by a replace
    (docs/meta-api.md §1.6): such a change is a new list."""
    return remote.exists and remote.value_based is not None and remote.value_based != d.value_based


@dataclass(frozen=True)
class Desired:
    """What the YAML and the CRM ask for."""

    name: str
    display_name: str
    description: str | None
    mode: Mode
    schema: tuple[str, ...]
    rows: int  # distinct hashed rows the CRM (or the file) gives
    max_shrink: float
    source: str = "the query"  # where the rows come from, for messages ("the file" for upload)
    own_description: bool = True  # False: the description on Meta is not fbsync's (an undeclared upload)
    value_based: bool = False  # a value-based list (the YAML's value:), whose rows carry LOOKALIKE_VALUE


@dataclass(frozen=True)
class LedgerView:
    """What fbsync's ledger says Meta acknowledged."""

    known: bool  # the ledger belongs to this Meta audience and this schema and key
    rows: int  # acknowledged rows
    adds: int  # desired rows not in the ledger
    removes: int  # ledger rows no longer desired
    suppressed: int = 0  # of those, rows of suppressed people: removed in every mode


@dataclass
class Plan:
    """The actions for one audience, in order."""

    audience: str
    create: bool = False
    update: dict[str, str] = field(default_factory=dict)
    strategy: Literal["diff", "replace"] = "diff"  # diff: send adds/removes; replace: one /usersreplace session
    adds: int = 0
    removes: int = 0
    replace_rows: int = 0
    refused: str | None = None
    notes: list[str] = field(default_factory=list)
    removes_from: RemovalSource = "stale"
    recreate: bool = False  # the list changes kind: a new one is created, the old one is left as an orphan
    resent: int = 0  # of ``adds``: kept rows sent again after the removals (a removal takes the person off Meta)

    @property
    def sends_nothing(self) -> bool:
        return not (self.create or self.update or self.adds or self.removes or self.replace_rows)


#: Meta's caps per ad account (docs/meta-api.md §1.1 "Caps per account"; the sandbox enforces them too).
MAX_CUSTOMER_LISTS = 500
MAX_LOOKALIKES = 500


def lookalike_cap_refusal(name: str, existing: int, missing: int) -> str | None:
    """Why creating ``missing`` lookalike tiers would pass Meta's cap, given ``existing`` on the account."""
    if missing and existing + missing > MAX_LOOKALIKES:
        return (
            f"{name}: the ad account already holds {existing:,} lookalike audiences and this one needs {missing} more, "
            f"Meta's maximum is {MAX_LOOKALIKES}; delete unused ones in Audience Manager (or `fbsync sync --prune` "
            "those fbsync created), then run again."
        )
    return None


def plan_audience(
    d: Desired, ledger: LedgerView, remote: Remote, *, force: bool = False, account_lists: int | None = None
) -> Plan:
    """Decide how to bring one customer-list audience on Meta to the desired rows."""
    p = Plan(d.name)
    if kind_changed(d, remote):
        p.recreate = True
        now, was = ("a value-based list", "a plain one") if d.value_based else ("a plain list", "a value-based one")
        p.notes.append(
            f"re-created as {now}: Meta cannot turn {was} into it, not even by a replace; the old list stays on "
            "Meta, renamed “… (replaced)”, until `fbsync sync --prune` deletes it"
        )
        remote, ledger = Remote(False), LedgerView(False, 0, d.rows, 0)
    if not remote.exists:
        p.create = True
        if account_lists is not None and account_lists >= MAX_CUSTOMER_LISTS:
            p.refused = (
                f"{d.name}: the ad account already holds {account_lists:,} customer lists, Meta's maximum is "
                f"{MAX_CUSTOMER_LISTS}; delete unused ones in Audience Manager (or `fbsync sync --prune` those fbsync "
                "created), then run again."
            )
            return p
    else:
        if remote.name != d.display_name:
            p.update["name"] = d.display_name
        if d.own_description and (d.description or "") != (remote.description or ""):
            p.update["description"] = d.description or ""
    if d.mode == "replace" or (d.mode == "mirror" and remote.exists and not ledger.known):
        if d.rows == 0:
            p.refused = (
                f"{d.name}: {d.source} gave no usable row, and a replace with nothing would empty "
                f"the audience; fix {d.source}, or run with --force to remove everyone."
            )
            if not force:
                return p
            p.refused = None
            p.strategy, p.removes = "diff", ledger.rows if ledger.known else 0
            return p
        p.strategy, p.replace_rows = "replace", d.rows
        if d.mode != "replace":
            p.notes.append(
                "no ledger for this Meta audience (first run against it, lost state or changed keys): "
                "one full replace makes Meta and the ledger agree"
            )
        old = ledger.rows if ledger.known else (remote.size_lower or 0)
        gone = ledger.removes if ledger.known else max(0, old - d.rows)
    elif d.mode == "remove":  # upload --mode remove: exactly the listed rows leave
        p.removes, p.removes_from = d.rows, "listed"
        old = ledger.rows if ledger.known else (remote.size_lower or 0)
        gone = min(d.rows, old)
    else:
        p.adds = ledger.adds
        if d.mode == "mirror":
            p.removes = ledger.removes
        elif ledger.suppressed:  # append: suppression beats the mode
            p.removes, p.removes_from = ledger.suppressed, "suppressed"
        old, gone = ledger.rows, p.removes
    if old and gone / old > d.max_shrink and not force:
        new = d.rows if p.strategy == "replace" or d.mode == "mirror" else old - gone + p.adds
        p.refused = (
            f"{d.name}: this sync would shrink the audience from {old:,} to {new:,} members (removing "
            f"{gone:,}, {gone / old:.0%}, above max_shrink {d.max_shrink:.0%}); check {d.source}, "
            "then run again with --force if it is right."
        )
    return p
