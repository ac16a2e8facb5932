"""What a run brings in step, apart from how: a customer list's target (:class:`ListTarget`), its rows
read from the CRM once and shared by each of its ad accounts (:class:`SharedRead`), a lookalike's
shape on one account, and the data-quality gates measured on the rows.  The steps that use them are
in :mod:`fbsync.orchestrator`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import accounts
from .accounts import Unit
from .config import Audience, LoadedConfig, OnTooSmall, effective
from .customers import Links
from .planning import Desired, LedgerView
from .quality import Gate, Quality, QualityMeter, evaluate
from .read import Spec
from .results import ReadResult
from .settings import Settings
from .state.staging import Staging


@dataclass(frozen=True)
class ListTarget:
    """A customer list to bring in step: what the plan wants of it (``want.rows`` is filled once the rows
    are read), the source Meta asks for at creation, and extra facts for the run history."""

    want: Desired
    file_source: str
    record: Mapping[str, Any] = field(default_factory=dict)
    made_by: str = "yaml"  # "upload": created for a file, never pruned
    on_too_small: OnTooSmall = "keep"  # when Meta refuses removals that would leave too few people
    #: What the rows carry besides the mapped columns (the audience's Limited Data Use setting): when it
    #: changes, the ledger no longer describes Meta's rows, so the next sync makes them agree with one replace
    #: (a diff would add and then remove rows of the same people).
    variant: str = ""
    #: Which rows a removal may take along on Meta (the identifying keys; a fanned customer's shared keys).
    links: Links | None = None
    quality: Quality | None = None  # the audience's data-quality gates (docs/quality.md)
    country: str | None = None  # its default country (the ZIP/COUNTRY consistency gate needs it)

    @classmethod
    def of(cls, loaded: LoadedConfig, a: Audience) -> ListTarget:
        eff = effective(loaded.config, a)
        spec = Spec.of(loaded, a)
        want = Desired(
            a.name,
            a.display_name or a.name,
            a.description,
            eff.mode,
            spec.schema,
            0,
            eff.max_shrink,
            value_based=a.is_value_based,
        )
        variant = "|".join(map(str, eff.data_processing)) if eff.data_processing else ""
        links = Links.of(spec.schema)
        return cls(
            want,
            eff.customer_file_source,
            on_too_small=eff.on_too_small,
            variant=variant,
            links=links,
            quality=eff.quality,
            country=eff.default_country,
        )


ReadInto = Callable[[Staging, QualityMeter | None], ReadResult]


class SharedRead:
    """An audience's rows read from the CRM once (into a :class:`Staging`) and planned on each of its
    accounts: every account gets the same desired rows with its own ledger's marks."""

    def __init__(self, settings: Settings, read_into: ReadInto) -> None:
        self.settings, self.read_into = settings, read_into
        self.stg: Staging | None = None
        self.result: ReadResult | None = None
        self.meter: QualityMeter | None = None
        self.error: BaseException | None = None

    def read(self, t: ListTarget) -> tuple[Staging, ReadResult, QualityMeter | None]:
        """The staged rows (read now if no account read them yet), cleared of any earlier account's marks."""
        if self.error is not None:  # the read failed for the first account: it fails alike for the others
            raise self.error
        if self.stg is None:
            self.stg = Staging(self.settings.state_dir)
            self.meter = (
                QualityMeter(t.quality, default_country=t.country, today=datetime.now().astimezone().date())
                if t.quality
                else None
            )
            try:
                self.result = self.read_into(self.stg, self.meter)
            except BaseException as exc:
                self.error = exc
                raise
        else:
            self.stg.clear_acked()
            self.stg.clear_forced()
        assert self.result is not None
        return self.stg, self.result, self.meter

    def __enter__(self) -> SharedRead:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.stg is not None:
            self.stg.close()
            self.stg = None


def as_slot(cfg: Any, a: Audience, u: Unit, home: str | None) -> Audience:
    """A lookalike as it is on one account: its tiers and its source are that account's slots (its name on
    Meta stays the audience's)."""
    assert a.lookalike is not None
    if u.slot == a.name:
        return a
    src = a.lookalike.source
    source = src if src.isdigit() else accounts.slot(src, u.account, home)
    return a.model_copy(
        update={
            "name": u.slot,
            "display_name": a.display_name or a.name,
            "lookalike": a.lookalike.model_copy(update={"source": source}),
        }
    )


def gates_of(q: Quality | None, meter: QualityMeter | None, read: ReadResult, view: LedgerView) -> list[Gate]:
    """The audience's quality gates measured on this run's rows (and, for churn, against the ledger)."""
    if q is None or meter is None:
        return []
    measured = meter.measured(
        rows_read=read.rows_read,
        rows_desired=read.rows_desired,
        rows_duplicate=read.rows_duplicate,
        rows_left_out=read.rows_left_out,
        ledger=(view.adds, view.removes, view.rows) if view.known else None,
    )
    return evaluate(q, measured)
