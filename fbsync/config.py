"""Load and validate ``audiences.yaml`` (contract: "audiences.yaml (version 1)").

Every problem is collected, not just the first: each names the file, the line
and the field, and the whole load raises one :class:`~fbsync.errors.ConfigError`
(exit code 2) before anything is sent.

The file is untrusted text: it must be UTF-8 (a BOM is fine), and YAML aliases
may neither sit inside their own anchor nor expand to more than
:data:`MAX_ALIAS_NODES` nodes, nor may the document nest deeper than
:data:`MAX_DEPTH` levels, so a hostile or broken file is refused in milliseconds
instead of looping, exhausting memory or overflowing the stack.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .alerts.config import AlertsConfig
from .config_types import (
    AccountIds,
    Country,
    KeySource,
    Ratio,
    ValueTransform,
    check_keys,
    columns_of,
    is_fanned,
)
from .errors import ConfigError
from .quality import Quality, unmapped
from .yamlfile import (
    BoundedLoader,
    Refused,
    construct,
    expand_vars,
    field_name,
    line_of,
    read_utf8,
    yaml_problem,
)

OnTooSmall = Literal["keep", "replace"]
CUSTOMER_FILE_SOURCES = ("USER_PROVIDED_ONLY", "PARTNER_PROVIDED_ONLY", "BOTH_USER_AND_PARTNER_PROVIDED")
Mode = Literal["mirror", "append", "replace"]
_NAME = re.compile(r"^[a-z0-9_]+$")
# Nodes that YAML aliases may stand for in one file.  A real audiences.yaml reaches a few hundred at most;
# ten levels of ten aliases ("billion laughs") would reach 10**10 and hang every walk over the tree.
# Nesting levels of lists and mappings.  A real audiences.yaml uses five or six; PyYAML composes recursively,
# so thousands of "[" would overflow Python's stack.


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CrmConfig(_Model):
    url: str | None = None


class Overrides(_Model):
    """Fields an audience may set for itself; unset ones come from ``defaults``."""

    mode: Mode | None = None
    customer_file_source: Literal[CUSTOMER_FILE_SOURCES] | None = None  # type: ignore[valid-type]
    default_country: Country | None = None
    schedule: str | None = None
    timezone: str | None = None
    max_shrink: Annotated[float, Field(ge=0, le=1)] | None = None
    consent: str | None = None
    hash_in_database: bool | None = None
    on_too_small: OnTooSmall | None = None
    data_processing_options: list[Literal["LDU"]] | None = None  # Limited Data Use for every row of the audience
    data_processing_options_country: Literal[0, 1] | None = None  # Meta: 1 (the US) with LDU, else 0
    data_processing_options_state: Literal[0, 1000] | None = None  # Meta: 1000 (California) with LDU, else 0
    quality: Quality | None = None  # data-quality gates (docs/quality.md); an audience's fields override defaults'
    #: The ad account(s) the audience goes to (README "Several ad accounts"); unset: the file's.
    ad_account_id: AccountIds | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(v)
            except ValueError as exc:
                raise ValueError(f"is not a valid cron expression ({exc})") from None
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError("is not a known time zone such as Europe/Paris") from None
        return v


class Defaults(Overrides):
    mode: Mode = "mirror"
    customer_file_source: Literal[CUSTOMER_FILE_SOURCES] = "USER_PROVIDED_ONLY"  # type: ignore[valid-type]
    schedule: str = "0 6 * * MON"
    timezone: str = "Europe/Paris"
    max_shrink: Annotated[float, Field(ge=0, le=1)] = 0.5
    hash_in_database: bool = False
    on_too_small: OnTooSmall = "keep"


class Lookalike(_Model):
    source: str
    countries: list[Country] = Field(min_length=1)
    ratios: list[Ratio] = Field(min_length=1)

    @field_validator("ratios")
    @classmethod
    def _distinct(cls, v: list[float]) -> list[float]:
        if len(set(v)) != len(v):
            raise ValueError("ratios must not repeat")
        return sorted(v)


class Audience(Overrides):
    name: str
    display_name: str | None = None
    description: str | None = None
    query: str | None = None
    keys: dict[str, KeySource] | None = None
    #: A value-based list: the column of each customer's value (lifetime value, a score…), sent as LOOKALIKE_VALUE.
    value: str | None = None
    value_transform: ValueTransform | None = None
    exclude: list[str] = []
    intersect: list[str] = []
    lookalike: Lookalike | None = None
    #: Ad accounts the list is shared with through Meta's sharing edge instead of uploaded to (README).
    share_with: AccountIds | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("must be lowercase letters, digits and _ only (it is fbsync's stable key)")
        return v

    @field_validator("keys")
    @classmethod
    def _keys(cls, v: dict[str, KeySource] | None) -> dict[str, KeySource] | None:
        return None if v is None else check_keys(v)

    @model_validator(mode="after")
    def _kind(self) -> Audience:
        if self.lookalike is not None:
            if self.query or self.keys or self.value:
                raise ValueError("a lookalike audience takes no query, keys or value")
        elif not self.query or not self.keys:
            raise ValueError("needs a query and keys (or a lookalike section)")
        if self.value_transform is not None and not self.value:
            raise ValueError("value_transform needs a value column (value: COLUMN)")
        if self.hash_in_database and self.fanned:
            raise ValueError("hash_in_database takes one column per key; map each key to one column, or hash in fbsync")
        return self

    @property
    def is_lookalike(self) -> bool:
        return self.lookalike is not None

    @property
    def is_value_based(self) -> bool:
        return self.value is not None

    @property
    def fanned(self) -> dict[str, tuple[str, ...]]:
        """Keys that may give one customer several values (several rows sent), with their columns."""
        return {k: columns_of(s) for k, s in (self.keys or {}).items() if is_fanned(s)}


class Suppression(_Model):
    query: str | None = None
    keys: dict[str, str] | None = None
    files: list[str] = []

    @field_validator("keys")
    @classmethod
    def _keys(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        if v is not None:
            check_keys(dict(v))
        return v


class AdSet(_Model):
    id: str = Field(pattern=r"^\d+$")
    #: The ad set's ad account (its audiences are that account's); unset: the file's.
    ad_account_id: str | None = Field(default=None, pattern=r"^act_\d+$")
    include: list[str] = []
    exclude: list[str] = []
    #: True: included audiences are rules (targeting_automation.advantage_audience = 0); False: suggestions
    #: Meta may go beyond (1); None: leave the ad set's setting as it is.
    strict_audiences: bool | None = None


class ApiOptions(_Model):
    """How fbsync treats the Marketing API: retries of transient errors and pacing before the limits."""

    max_attempts: Annotated[int, Field(ge=1, le=50)] = 6
    max_backoff_seconds: Annotated[float, Field(gt=0)] = 60.0
    max_wait_per_call_seconds: Annotated[float, Field(gt=0)] = 900.0
    max_wait_per_audience_seconds: Annotated[float, Field(gt=0)] = 1800.0
    slow_down_from_percent: Annotated[float, Field(ge=1, le=100)] = 75.0
    #: Member batches in flight at once when Meta's headers say Full access and show room (1 on Limited).
    max_uploads_in_flight: Annotated[int, Field(ge=1, le=32)] = 4


class Config(_Model):
    version: Literal[1]
    ad_account_id: str | None = None
    crm: CrmConfig = CrmConfig()
    defaults: Defaults = Defaults()
    suppression: Suppression | None = None
    audiences: list[Audience] = Field(min_length=1)
    ad_sets: list[AdSet] = []
    api: ApiOptions = ApiOptions()
    alerts: AlertsConfig | None = None  # where a run's problems are sent (docs/alerts.md)

    @field_validator("ad_account_id")
    @classmethod
    def _account(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"act_\d+", v):
            raise ValueError("must look like act_1234567890 (act_ followed by the account's digits)")
        return v


@dataclass(frozen=True)
class Effective:
    """An audience's settings once its own fields and ``defaults`` are merged."""

    mode: Mode
    customer_file_source: str
    default_country: str | None
    schedule: str
    timezone: str
    max_shrink: float
    consent: str | None
    hash_in_database: bool
    on_too_small: OnTooSmall
    data_processing: tuple[str, int, int] | None  # (options, country, state) as Meta's LDU columns, or None
    quality: Quality | None = None  # the audience's gates over the defaults'


def effective(cfg: Config, aud: Audience) -> Effective:
    """Merge an audience's own fields over ``defaults``; an explicit ``consent: null`` turns consent off."""
    d = cfg.defaults
    pick = lambda f: getattr(aud, f) if getattr(aud, f) is not None else getattr(d, f)  # noqa: E731
    consent = aud.consent if "consent" in aud.model_fields_set else d.consent
    return Effective(
        mode=pick("mode"),
        customer_file_source=pick("customer_file_source"),
        default_country=pick("default_country"),
        schedule=pick("schedule"),
        timezone=pick("timezone"),
        max_shrink=pick("max_shrink"),
        consent=consent,
        hash_in_database=pick("hash_in_database"),
        on_too_small=pick("on_too_small"),
        data_processing=_data_processing(aud, d),
        quality=Quality.merged(d.quality, aud.quality),
    )


def _data_processing(aud: Audience, d: Defaults) -> tuple[str, int, int] | None:
    """The audience's Limited Data Use setting (its own, else the defaults'): ``("LDU", 1, 1000)`` and the like."""
    src = aud if aud.data_processing_options is not None else d
    if src.data_processing_options is None:
        return None
    options = ",".join(src.data_processing_options)
    if not options:
        return ("", 0, 0)
    return (options, src.data_processing_options_country or 0, src.data_processing_options_state or 0)


@dataclass
class LoadedConfig:
    """A validated config, where it came from, and its SHA-256 (for the audit log)."""

    config: Config
    path: Path
    digest: str

    def audience(self, name: str) -> Audience:
        for a in self.config.audiences:
            if a.name == name:
                return a
        raise ConfigError(
            f"{self.path}: no audience named {name!r}; the file declares "
            f"{', '.join(a.name for a in self.config.audiences)}."
        )


# --------------------------------------------------------------------------- loading


def load_dotenv_files(config_path: Path | None = None) -> None:
    """Read ``.env`` from the working directory and beside the YAML; the real environment wins."""
    import io

    from dotenv import load_dotenv

    seen: set[Path] = set()
    for folder in (Path.cwd(), config_path.parent if config_path else None):
        if folder is None:
            continue
        env = (folder / ".env").resolve()
        if env not in seen and env.is_file():
            seen.add(env)
            load_dotenv(stream=io.StringIO(read_utf8(env)), override=False)


def _references(cfg: Config, root: yaml.Node | None, where: str) -> list[str]:
    """Names that must exist, lookalike sources, and exclusion cycles."""
    problems: list[str] = []
    index = {a.name: i for i, a in enumerate(cfg.audiences)}
    lists = {a.name for a in cfg.audiences if not a.is_lookalike}

    def at(loc: tuple[Any, ...], msg: str) -> None:
        problems.append(f"{where}, line {line_of(root, loc)}, {field_name(root, loc)}: {msg}")

    seen: set[str] = set()
    for i, a in enumerate(cfg.audiences):
        if a.name in seen:
            at(("audiences", i, "name"), f"audience name {a.name!r} is used twice; names must be unique.")
        seen.add(a.name)
        for fld in ("exclude", "intersect"):
            for j, ref in enumerate(getattr(a, fld)):
                if ref not in index:
                    at(("audiences", i, fld, j), f"{ref!r} is not an audience of this file.")
                elif ref not in lists:
                    at(("audiences", i, fld, j), f"{ref!r} is a lookalike; only customer lists can be {fld}d.")
                elif ref == a.name:
                    at(("audiences", i, fld, j), f"an audience cannot {fld} itself.")
        if a.lookalike and not a.lookalike.source.isdigit() and a.lookalike.source not in lists:
            at(
                ("audiences", i, "lookalike", "source"),
                f"{a.lookalike.source!r} is neither a customer-list audience of this file nor a Meta audience id.",
            )
    for k, s in enumerate(cfg.ad_sets):
        for fld in ("include", "exclude"):
            for j, ref in enumerate(getattr(s, fld)):
                if ref not in index:
                    at(("ad_sets", k, fld, j), f"{ref!r} is not an audience of this file.")
    for i, a in enumerate(cfg.audiences):
        try:
            Quality.merged(cfg.defaults.quality, a.quality)
        except ValueError as exc:
            at(("audiences", i, "quality"), str(exc).rstrip("."))
        if a.quality is not None and not a.is_lookalike:
            for problem in unmapped(a.quality, list(a.keys or {}), value_column=a.is_value_based):
                at(("audiences", i, "quality"), problem.rstrip("."))
        if a.fanned and a.hash_in_database is None and cfg.defaults.hash_in_database:
            at(
                ("audiences", i, "keys"),
                "several columns per key cannot be hashed in the database (defaults: hash_in_database: true); "
                "set hash_in_database: false on this audience",
            )
    cycle = _find_cycle({a.name: list(a.exclude) + list(a.intersect) for a in cfg.audiences})
    if cycle:
        i = index[cycle[0]]
        at(("audiences", i, "name"), "exclude/intersect form a cycle: " + " -> ".join(cycle + [cycle[0]]) + ".")
    return problems


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in graph.get(n, []):
            if m not in graph:
                continue
            if state.get(m) == 1:
                return stack[stack.index(m) :]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in graph:
        if n not in state and (c := visit(n)):
            return c
    return None


def parse_config(text: str, where: str = "audiences.yaml", env: dict[str, str] | None = None) -> Config:
    """Parse and validate YAML text; raise one ConfigError listing every problem."""
    env = dict(os.environ if env is None else env)
    try:
        root = yaml.compose(text, Loader=BoundedLoader)
    except Refused as exc:
        raise ConfigError(f"{where}, line {exc.line}: {exc.problem}.") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(
            f"{where}, line {line}: the file holds a control character YAML does not accept (#x{exc.character:04x}); "
            "remove it, or save the file as UTF-8 if your editor wrote UTF-16."
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_problem(exc, where)) from None
    if root is None:
        raise ConfigError(f"{where}: the file is empty; start from the example in the README.")
    problems: list[str] = []
    expand_vars(root, env, problems, where, set())
    try:
        data = construct(root)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_problem(exc, where)) from None
    except ValueError:  # a plain scalar YAML takes for a date or a tagged number, such as 2024-13-45 or !!int x
        raise ConfigError(
            f"{where}: a value looks like a date or number to YAML but is not a valid one (such as 2024-13-45); "
            'quote it ("…") if it is text.'
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}, line 1: the top level must be a mapping with version, audiences, ….")
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(p for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "is not a known field (check the spelling against the README's YAML reference)"
            elif err["type"] == "missing":
                msg = "is required"
            problems.append(f"{where}, line {line_of(root, loc)}, {field_name(root, loc)}: {msg}.")
        raise ConfigError(_summary(where, problems), problems) from None
    problems += _references(cfg, root, where)
    if problems:
        raise ConfigError(_summary(where, problems), problems)
    return cfg


def _summary(where: str, problems: list[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    return f"{where} has {len(problems)} problems:\n  " + "\n  ".join(problems)


def load_config(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> LoadedConfig:
    """Read ``.env`` files, then the YAML at ``path`` (default ``audiences.yaml``)."""
    import hashlib

    p = Path(path or "audiences.yaml")
    if env is None:
        load_dotenv_files(p)
    if not p.is_file():
        raise ConfigError(f"{p}: no such file; pass -c PATH or create audiences.yaml (see the README).")
    text = read_utf8(p)
    cfg = parse_config(text, str(p), env)
    return LoadedConfig(cfg, p.resolve(), hashlib.sha256(text.encode()).hexdigest())
