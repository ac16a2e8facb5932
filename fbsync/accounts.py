"""Which ad accounts each audience goes to, and where its state lives on each (pure).

An audience goes to its own ``ad_account_id`` (one ``act_…`` or a list), else the one(s) of
``defaults``, else the file's ``ad_account_id`` (``FB_AD_ACCOUNT_ID`` overrides that one): the *home*
account.  A lookalike without its own goes where its source goes; one that names accounts must name
accounts its source goes to (a lookalike is made from the seed on the same account).

What fbsync keeps per audience (its Meta id, ledger, lock, lookalike tiers, history) is kept per
(account, audience) under a *slot* name: the audience's name on the home account, so a file that
always had one account keeps its state as it was, and ``name@act_…`` on any other account.  Names are
``[a-z0-9_]+``, so the ``@act_`` suffix never collides with a name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .config import Audience, Config
from .errors import ConfigError

SEP = "@"
_SLOT = re.compile(r"^(?P<name>[a-z0-9_]+)@(?P<account>act_\d+)$")


def home_account(cfg: Config, from_env: str | None) -> str | None:
    """The file's account: ``FB_AD_ACCOUNT_ID`` if set, else ``ad_account_id``, else the first of ``defaults``'."""
    if from_env or cfg.ad_account_id:
        return from_env or cfg.ad_account_id
    return cfg.defaults.ad_account_id[0] if cfg.defaults.ad_account_id else None


def slot(name: str, account: str, home: str | None) -> str:
    """Where fbsync keeps what it knows of ``name`` on ``account``."""
    return name if account == home else f"{name}{SEP}{account}"


def split(name: str) -> tuple[str, str | None]:
    """``(audience, account)`` of a slot name; the account is None for the home account's plain name."""
    m = _SLOT.match(name)
    return (m["name"], m["account"]) if m else (name, None)


def accounts_of(cfg: Config, a: Audience, home: str | None) -> tuple[str, ...]:
    """The accounts one audience goes to (see the module's docstring); a ConfigError when there is none."""
    if a.ad_account_id:
        return tuple(a.ad_account_id)
    if a.lookalike is not None and not a.lookalike.source.isdigit():
        src = next((x for x in cfg.audiences if x.name == a.lookalike.source), None)
        if src is not None:
            return accounts_of(cfg, src, home)
    if cfg.defaults.ad_account_id:
        return tuple(cfg.defaults.ad_account_id)
    if home:
        return (home,)
    raise ConfigError("No ad account: set ad_account_id in audiences.yaml or FB_AD_ACCOUNT_ID (act_…).")


@dataclass(frozen=True)
class Unit:
    """One audience on one ad account: what a run syncs, locks and records."""

    audience: Audience
    account: str
    slot: str

    @property
    def name(self) -> str:
        return self.audience.name


def units(cfg: Config, auds: Iterable[Audience], home: str | None) -> list[Unit]:
    """Every (audience, account) of ``auds``, in their order; a lookalike on an account its source does not
    go to is a ConfigError naming the fix."""
    out = []
    for a in auds:
        accts = accounts_of(cfg, a, home)
        if a.share_with:
            if a.is_lookalike:
                raise ConfigError(f"{a.name!r} is a lookalike; share_with is for customer lists (share its source).")
            both = [x for x in a.share_with if x in accts]
            if both:
                raise ConfigError(
                    f"{a.name!r} is both synced to and shared with {both[0]}; keep it in ad_account_id or in "
                    "share_with, not both."
                )
        if a.lookalike is not None and a.ad_account_id and not a.lookalike.source.isdigit():
            src = next((x for x in cfg.audiences if x.name == a.lookalike.source), None)
            if src is not None:
                seeds = accounts_of(cfg, src, home)
                stray = [x for x in accts if x not in seeds]
                if stray and stray[0] in (src.share_with or []):
                    raise ConfigError(
                        f"Lookalike {a.name!r} is on {stray[0]}, which {src.name!r} is only shared with: Meta refuses "
                        f"a shared audience as a lookalike source; sync {src.name} to {stray[0]} (ad_account_id) "
                        "instead of sharing it, or create the lookalike on the owner's account."
                    )
                if stray:
                    raise ConfigError(
                        f"Lookalike {a.name!r} is on {', '.join(stray)}, where its source {src.name!r} is not "
                        f"synced; add {stray[0]} to {src.name}'s ad_account_id, or remove it from {a.name}'s."
                    )
        out += [Unit(a, x, slot(a.name, x, home)) for x in accts]
    return out


def all_accounts(cfg: Config, home: str | None) -> list[str]:
    """Every account the file syncs to (the home account first), for ``doctor`` and the metrics."""
    seen: list[str] = [home] if home else []
    for u in units(cfg, cfg.audiences, home):
        if u.account not in seen:
            seen.append(u.account)
    for s in cfg.ad_sets:
        acct = s.ad_account_id or home
        if acct and acct not in seen:
            seen.append(acct)
    return seen


def slot_in(cfg: Config, name: str, account: str, home: str | None) -> str:
    """The slot of audience ``name`` on ``account``, checking it goes there (an ad set names audiences of its
    own account)."""
    a = next(x for x in cfg.audiences if x.name == name)
    mine = accounts_of(cfg, a, home)
    if account in (a.share_with or []) and account not in mine:
        return slot(name, mine[0], home)  # shared with it: the owner's audience
    if account not in mine:
        raise ConfigError(
            f"Audience {name!r} is not synced to {account}, so an ad set of that account cannot use it; "
            f"add {account} to {name}'s ad_account_id or share_with."
        )
    return slot(name, account, home)


def label(u_slot: str) -> str:
    """A slot as people read it: ``vip`` or ``vip (act_123)``."""
    name, account = split(u_slot)
    return f"{name} ({account})" if account else name


def several(us: Sequence[Unit]) -> bool:
    """Whether a run spans more than one account (the summary then names each result's account)."""
    return len({u.account for u in us}) > 1
