"""``share_with``: which ad accounts to share a customer list with and which to stop sharing with (pure).

Sharing goes through Meta's sharing edge (:mod:`fbsync.meta.sharing`) from the audience's first ad
account, its owner: the recipients target the owner's audience; nothing is uploaded to them.  fbsync
only ever unshares what it shared itself (recorded with the audience), never a share made by hand,
and an unshare stops the recipients' ads that use the audience, so like a shrink it needs ``--force``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SharePlan:
    share: tuple[str, ...] = ()
    unshare: tuple[str, ...] = ()
    refused: str | None = None  # an unshare not allowed without --force

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"share": list(self.share), "unshare": list(self.unshare)}
        if self.refused:
            out["refused"] = self.refused
        return out

    def notes(self, done: bool) -> tuple[str, ...]:
        verb = ("shared with", "unshared from") if done else ("share with", "unshare from")
        out = []
        if self.share:
            out.append(f"{verb[0]} {', '.join(self.share)} (Meta's sharing edge: nothing uploaded there)")
        if self.unshare and not self.refused:
            out.append(f"{verb[1]} {', '.join(self.unshare)} (destructive: their ads using it stop)")
        return tuple(out)


def plan_shares(
    name: str,
    owner: str,
    wanted: Iterable[str],
    current: Iterable[str],
    ours: Iterable[str],
    *,
    force: bool,
) -> SharePlan:
    """``wanted``: the YAML's ``share_with``; ``current``: who Meta says the audience is shared with (the owner
    may be among them); ``ours``: the shares fbsync made before.  Shares what is missing; unshares what it
    shared and the YAML no longer lists, refused without ``force``."""
    want = set(wanted) - {owner}
    now, mine = set(current) - {owner}, set(ours)
    share = tuple(sorted(want - now))
    unshare = tuple(sorted((mine - want) & now))
    refused = None
    if unshare and not force:
        refused = (
            f"{name}: unsharing it from {', '.join(unshare)} stops their ads that use it, and Meta cannot undo "
            f"that; put {unshare[0]} back in share_with, or run with --force to unshare"
        )
    return SharePlan(share, unshare, refused)
