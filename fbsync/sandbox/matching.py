"""Meta's matching of uploaded rows to people (docs/sandbox.md "Matching people").

Meta turns each uploaded row into a person on Facebook/Instagram when it can; an audience is a set
of matched people.  The sandbox has no user base, so it decides deterministically which values Meta
"knows": a value is known iff a keyed digest of it (the BLAKE2b digest of key and value, mixed with
``SandboxConfig.match_seed``, so every key draws independently) falls under that key's share
(``match_email``, ``match_phone``, …).  The same value is known or not on every run.

* Identifying keys: EMAIL (= EMAIL_SHA256), PHONE (= PHONE_SHA256), MADID (= MOBILE_ADVERTISER_ID),
  EXTERN_ID (scoped to its ad account, docs/meta-api.md §1.5 "EXTERN_ID"), and Meta's own user ids
  UID / APPUID / PAGEUID.
* Names, places and dates never match alone; a row none of whose identifying values resolves may
  still match through FN+LN plus ZIP, CT or DOBY (share ``match_name``).
* A row *resolves* through its identifying values that are known, or that an earlier matched row
  linked to a person (the store's person graph, :mod:`.persons`); only when none does, through its
  name combinations the same way.  A matched row links its resolving values and its EXTERN_ID (Meta
  keeps the EXTERN_ID mapping of an ad account for 90 days, G-CFCA) to one person; unknown e-mails,
  phones and MADIDs are not linked (Meta discards unmatched hashes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .store_keys import digest

if TYPE_CHECKING:
    from .config import SandboxConfig

#: Schema key → the key whose values it shares (the same e-mail under EMAIL or EMAIL_SHA256 is one value).
IDENTIFYING = {
    "EMAIL": "EMAIL",
    "EMAIL_SHA256": "EMAIL",
    "PHONE": "PHONE",
    "PHONE_SHA256": "PHONE",
    "MADID": "MADID",
    "MOBILE_ADVERTISER_ID": "MADID",
    "EXTERN_ID": "EXTERN_ID",
    "UID": "UID",
    "APPUID": "APPUID",
    "PAGEUID": "PAGEUID",
}
#: Name combinations that may match a row whose identifying values do not (FN+LN plus one of these).
NAME_COMBOS = (("FN", "LN", "ZIP"), ("FN", "LN", "CT"), ("FN", "LN", "DOBY"))
#: Reads the person graph: nodes → ``{node: person}`` of those it holds.
Lookup = Callable[[Iterable[int]], dict[int, int]]
_COMBOS = tuple((combo, "+".join(combo)) for combo in NAME_COMBOS)
_TWO_64 = float(2**64)
_MASK = 2**64 - 1


@dataclass
class RowNodes:
    """The graph nodes one row can resolve through: ``(node, known)`` pairs, and its EXTERN_ID node."""

    ids: list[tuple[int, bool]] = field(default_factory=list)
    names: list[tuple[int, bool]] = field(default_factory=list)
    extern: int | None = None

    def by_id(self, graph: Mapping[int, int]) -> bool:
        """Does an identifying value resolve (known, or linked)?  Else the names are needed."""
        return any(known or n in graph for n, known in self.ids)

    def resolving(self, graph: Mapping[int, int]) -> list[int]:
        """The nodes the row matches through (known, or linked to a person); ``[]`` = unmatched."""
        found = [n for n, known in self.ids if known or n in graph]
        return found or [n for n, known in self.names if known or n in graph]

    def links(self, graph: Mapping[int, int], every_value: bool = False) -> list[int]:
        """Nodes a matched row ties to one person: its resolving nodes and its EXTERN_ID (``every_value``: all
        its identifying values, known or not); ``[]`` = unmatched."""
        found = self.resolving(graph)
        if found:
            more = [n for n, _ in self.ids] if every_value else [self.extern] if self.extern is not None else []
            found += [n for n in more if n not in found]
        return found


class Matcher:
    """Which values Meta knows, from the config's shares and seed (deterministic, independent per key)."""

    def __init__(self, config: SandboxConfig) -> None:
        user_ids = config.match_user_id
        self.shares = {
            "EMAIL": config.match_email,
            "PHONE": config.match_phone,
            "MADID": config.match_madid,
            "EXTERN_ID": config.match_extern_id,
            "UID": user_ids,
            "APPUID": user_ids,
            "PAGEUID": user_ids,
            **{"+".join(combo): config.match_name for combo in NAME_COMBOS},
        }
        self.link_unknown = config.match_link_unknown
        self._key = int.from_bytes(hashlib.blake2b(config.match_seed.encode("utf-8"), digest_size=8).digest(), "big")

    def known(self, key: str, value: str) -> bool:
        """Is ``value`` of ``key`` (a canonical key of :data:`IDENTIFYING` or ``"FN+LN+ZIP"``…) known to Meta?"""
        return self._known(key, digest(f"{key}\0{value}"))

    def _known(self, key: str, node: int) -> bool:
        """Known-ness of a node (the BLAKE2b digest of key and value): a seed-keyed mix of it under the share."""
        share = self.shares[key]
        if share >= 1:
            return True
        if share <= 0:
            return False
        x = (node ^ self._key) & _MASK  # splitmix64's finaliser: every bit of seed and digest moves the result
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
        return (x ^ (x >> 31)) < share * _TWO_64

    def resolve(self, members: list[dict[str, str]], account_id: str, lookup: Lookup) -> tuple[list[RowNodes], dict]:
        """The nodes of each member and ``{node: person}`` for those the graph holds (``lookup`` reads the
        graph); name combinations are only worked out for rows no identifying value resolves."""
        rows = [self.row(m, account_id) for m in members]
        graph = lookup(n for r in rows for n, _ in r.ids)
        need = [(r, m) for r, m in zip(rows, members) if not r.by_id(graph)]
        for r, m in need:
            self.add_names(r, m)
        graph.update(lookup(n for r, _ in need for n, _ in r.names))
        return rows, graph

    def row(self, member: Mapping[str, str], account_id: str) -> RowNodes:
        """The identifying nodes of one stored member (its non-empty identifier values)."""
        nodes = RowNodes()
        for key, value in member.items():
            canon = IDENTIFYING.get(key)
            if canon is None:
                continue
            node = digest(f"EXTERN_ID\0{account_id}\0{value}" if canon == "EXTERN_ID" else f"{canon}\0{value}")
            nodes.ids.append((node, self._known(canon, node)))
            if canon == "EXTERN_ID":
                nodes.extern = node
        return nodes

    def add_names(self, nodes: RowNodes, member: Mapping[str, str]) -> None:
        """The FN+LN+ZIP / CT / DOBY nodes of a member."""
        if "FN" in member and "LN" in member:
            for combo, name in _COMBOS:
                last = member.get(combo[2])
                if last is not None:
                    node = digest(f"{name}\0{member['FN']}\0{member['LN']}\0{last}")
                    nodes.names.append((node, self._known(name, node)))
