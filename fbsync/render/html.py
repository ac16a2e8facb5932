"""``fbsync report -o report.html``: the run history as one static HTML page.

The page is self-contained: inline CSS, inline SVG charts, no script, no font, image or style
fetched from anywhere (a Content-Security-Policy of ``default-src 'none'`` says so to the browser),
so it can be mailed, archived or opened offline.  It shows, per audience, the size Meta reports
over time, the rows sent per run, the drop reasons and an estimate of the match rate, then every
run, newest first.

It holds counts only: audience names, Meta ids, run ids, ``user@host``, statuses and messages.
Nothing identifier-like can come from the state store's run tables (they hold no identifiers), and
messages are scrubbed of anything that looks like an e-mail address or a hash all the same.

:func:`render_report` is pure (same runs and ``now`` give the same bytes);
:func:`write_report` reads a :class:`~fbsync.state.store.StateStore` and writes the file atomically.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ..accounts import split
from ..outfile import open_out
from ..state.records import RunRecord
from .charts import MINUS, band_chart, e, hbar_chart, sent_chart
from .history import AudienceSeries, Point, audience_series, scrub, size_or_none, utc
from .html_gates import gates_table, keys_table
from .html_style import CSP, CSS
from .html_time import Clock

__all__ = ["EMPTY_MESSAGE", "fmt_int", "fmt_pct", "render_report", "write_report"]

EMPTY_MESSAGE = "No runs yet: run fbsync sync"
LOCALES = ("fr", "en")
NNBSP = "\u202f"  # narrow no-break space: French (and SI) thousands separator

_SAFE_ID = re.compile(r"[^a-z0-9_-]+")


# ---------------------------------------------------------------------------------------- formatting
def fmt_int(n: int | float | None, locale: str = "fr") -> str:
    """12345 -> '12 345' (fr, narrow no-break space) or '12,345' (en); negatives get a true minus."""
    if n is None:
        return "–"
    n = round(n)
    s = f"{abs(n):,}"
    if locale == "fr":
        s = s.replace(",", NNBSP)
    return (MINUS if n < 0 else "") + s


def fmt_pct(x: float | None, locale: str = "fr", digits: int = 1) -> str:
    """0.9234 -> '92,3 %' (fr) or '92.3%' (en)."""
    if x is None:
        return "–"
    s = f"{x * 100:,.{digits}f}"
    if locale == "fr":
        s = s.replace(",", "\0").replace(".", ",").replace("\0", NNBSP)
        return s + NNBSP + "%"
    return s + "%"


def _fmt_range(lo: str, hi: str) -> str:
    return lo if lo == hi else f"{lo}–{hi}"


def _fmt_duration(a: datetime | None, b: datetime | None) -> str:
    if not a or not b:
        return ""
    s = max(0, round((b - a).total_seconds()))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


# ---------------------------------------------------------------------------------------- the data


class _PctFormat(Protocol):
    """A percentage formatter bound to the page's locale: ``fp(0.923)``, ``fp(1.0, digits=0)``."""

    def __call__(self, v: Any, /, digits: int = 1) -> str: ...


# ---------------------------------------------------------------------------------------- page


def _badge(status: str) -> str:
    cls = _SAFE_ID.sub("-", status.lower()) or "unknown"
    return f'<span class="badge st-{cls}">{e(status or "unknown")}</span>'


def _sent_text(p: Point, fi: Callable[[Any], str]) -> str:
    if p.replace:
        return f"replace {fi(p.added)}"
    return f"+{fi(p.added)} {MINUS}{fi(p.removed)}"


def _size_text(p: Point, fi: Callable[[Any], str]) -> str:
    if p.lower is None:
        return "–"
    return _fmt_range(fi(p.lower), fi(p.upper if p.upper is not None and p.upper >= p.lower else p.lower))


def _match_text(p: Point, fp: Callable[[Any], str]) -> str:
    m = p.match
    if not m:
        return "–"
    return ("≈ " if not p.base_exact else "") + _fmt_range(fp(m[0]), fp(m[1]))


def _drop_rows(s: AudienceSeries) -> list[tuple[str, int, int]]:
    """(reason, latest run, total over the runs shown) for every reason seen in any run."""
    latest = s.latest
    rows = [
        ("No consent", latest.no_consent, sum(p.no_consent for p in s.points)),
        ("No usable identifier", latest.no_identifier, sum(p.no_identifier for p in s.points)),
    ]
    if any(p.invalid_on_meta for p in s.points):
        rows.append(("Invalid on Meta (its count)", latest.invalid_on_meta, sum(p.invalid_on_meta for p in s.points)))
    reasons = sorted({(k, r) for p in s.points for k, rs in p.drops.items() for r in rs})
    for k, r in reasons:
        rows.append(
            (f"{k}: {r}", latest.drops.get(k, {}).get(r, 0), sum(p.drops.get(k, {}).get(r, 0) for p in s.points))
        )
    return rows


def _audience_section(s: AudienceSeries, fi: Callable[[Any], str], fp: _PctFormat, clock: Clock) -> str:
    pts = s.points
    labels = clock.axis([p.when for p in pts], [p.run_id for p in pts])
    latest = s.latest
    name = s.name
    out = [
        f'<section class="audience" id="{e(s.anchor)}" aria-labelledby="{e(s.anchor)}-h">',
        f'<h2 id="{e(s.anchor)}-h">Audience <code>{e(name)}</code></h2>',
    ]
    bits = []
    if s.display_name and s.display_name != name:
        bits.append(f"“{e(s.display_name)}” on Meta")
    if latest.meta_id:
        bits.append(f"Meta id <code>{e(latest.meta_id)}</code>")
    bits.append(
        f"{fi(len(pts))} run{'s' if len(pts) != 1 else ''} shown; latest #{latest.run_id} "
        f"({e(clock.when(latest.when))}) {_badge(latest.status)}"
    )
    out.append(f'<p class="sub">{" · ".join(bits)}</p>')
    if latest.message:
        out.append(f'<p class="msg">Latest message: {e(latest.message)}</p>')

    # 1. size on Meta
    sized = [p for p in pts if p.lower is not None]
    desc = f"Approximate audience size reported by Meta after each of {len(pts)} runs, lower and upper bound. " + (
        f"Latest (run #{sized[-1].run_id}): {_size_text(sized[-1], fi)}." if sized else "No size reported."
    )
    tips = [f"Run #{p.run_id} ({clock.when(p.when)}): size {_size_text(p, fi)}" for p in pts]
    cid = f"{s.anchor}-size"
    out.append(
        '<div class="charts"><div class="panel"><h3>Size on Meta</h3><figure>'
        + band_chart(
            cid,
            f"Size on Meta of {name}",
            desc,
            labels,
            [p.lower for p in pts],
            [p.upper for p in pts],
            tips,
            lambda v: fi(v),
            axis=clock.axis_title,
        )
        + "<figcaption>Meta's approximate_count lower (solid) and upper (dashed) bound, "
        "read back after each run.</figcaption></figure></div>"
    )

    # 2. rows sent
    desc = (
        f"Rows sent per run over {len(pts)} runs: added upwards, removed downwards, replace runs marked R. "
        f"Latest run #{latest.run_id}: {_sent_text(latest, fi)}."
    )
    tips = [f"Run #{p.run_id}: {_sent_text(p, fi)}" for p in pts]
    out.append(
        '<div class="panel"><h3>Rows sent per run</h3><figure>'
        + sent_chart(
            f"{s.anchor}-sent",
            f"Rows sent per run for {name}",
            desc,
            labels,
            [p.added for p in pts],
            [p.removed for p in pts],
            [p.replace for p in pts],
            tips,
            lambda v: fi(v),
            axis=clock.axis_title,
        )
        + "<figcaption>Adds above the line, removes below; a purple bar marked R is a full replace "
        "(every row sent again).</figcaption></figure></div>"
    )

    # 3. drop reasons
    drows = _drop_rows(s)
    desc = (
        f"Rows and values rejected in run #{latest.run_id}, by reason: "
        + "; ".join(f"{r}: {fi(n)}" for r, n, _ in drows)
        + "."
    )
    drop_panel = (
        '<div class="panel"><h3>Drop reasons</h3><figure>'
        + hbar_chart(
            f"{s.anchor}-drops",
            f"Drop reasons of {name} in run #{latest.run_id}",
            desc,
            [(r, n) for r, n, _ in drows],
            lambda v: fi(v),
        )
        + f"<figcaption>Latest run (#{latest.run_id}). “No consent” and “no usable identifier” are rows "
        "never sent; the per-key lines count rejected values (the row is still sent when another key "
        "is usable).</figcaption></figure></div>"
    )
    body = "".join(
        f'<tr><th scope="row">{e(r)}</th><td class="num">{fi(n)}</td><td class="num">{fi(t)}</td></tr>'
        for r, n, t in drows
    )
    drop_table = (
        '<div class="scroll"><table class="drops"><caption>Drop reasons: latest run and total over the '
        f'{fi(len(pts))} runs shown</caption><thead><tr><th scope="col">Reason</th>'
        f'<th scope="col" class="num">Run #{latest.run_id}</th><th scope="col" class="num">Total</th>'
        f"</tr></thead><tbody>{body}</tbody></table></div>"
    )
    if latest.empty:
        empt = ", ".join(f"{e(k)} {fi(v)}" for k, v in sorted(latest.empty.items()))
        drop_table += f'<p class="sub">Empty values in run #{latest.run_id} (not an error): {empt}.</p>'
    gates = gates_table(s, fi)
    if gates:
        drop_table += gates
    if latest.invalid_samples:
        shown = "; ".join(e(x) for x in latest.invalid_samples)
        drop_table += (
            f'<p class="sub">Meta\'s samples of invalid entries in run #{latest.run_id} (masked): {shown}.</p>'
        )
    out.append(drop_panel)

    # 4. match rate
    mpts = [p.match for p in pts]
    lm = next((p for p in reversed(pts) if p.match), None)
    head = '<div class="panel"><h3>Match rate (estimate)</h3>'
    if lm and lm.match:
        lo, hi = lm.match
        head += (
            f'<p class="estimate"><span class="big">≈ {_fmt_range(fp(lo), fp(hi))}</span> '
            f"estimated match rate after run #{lm.run_id}: Meta's size "
            f"({_size_text(lm, fi)}) ÷ "
            + (
                f"people fbsync sent ({fi(lm.people)}: customers, each counted once however many rows)"
                if lm.people and lm.status == "ok"
                else f"rows fbsync has sent and not removed ({fi(lm.held)}{'' if lm.held_exact else ', at most'})"
            )
            + ". <strong>An estimate only</strong>: Meta rounds its "
            "counts and takes up to 24 hours to match uploaded rows, so a fresh run reads low.</p>"
        )
    else:
        head += '<p class="estimate">Match rate: no estimate yet (Meta reported no size).</p>'
    kp = next((p for p in reversed(pts) if p.keys), None)
    if kp is not None:
        head += keys_table(kp, fi, fp)
    desc = (
        "Estimated match rate per run, lower to upper bound, as a percentage: Meta's approximate size "
        "divided by the rows fbsync has sent. " + (f"Latest: {_match_text(lm, fp)}." if lm else "")
    )
    tips = [f"Run #{p.run_id}: match rate {_match_text(p, fp)} (estimate)" for p in pts]
    out.append(
        head
        + "<figure>"
        + band_chart(
            f"{s.anchor}-match",
            f"Estimated match rate of {name}",
            desc,
            labels,
            [m[0] * 100 if m else None for m in mpts],
            [m[1] * 100 if m else None for m in mpts],
            tips,
            lambda v: fp(v / 100, digits=0),
            integer=False,
            ref=100.0,
            axis=clock.axis_title,
        )
        + "<figcaption>Size lower bound ÷ rows sent (solid) to upper bound ÷ rows sent (dashed); the dotted "
        f"line is {fp(1.0, digits=0)}. Estimate: Meta matching takes up to 24 h.</figcaption></figure>"
        "</div></div>" + drop_table
    )

    # 5. per-run data (also the accessible version of the charts)
    rows = []
    for p in reversed(pts):
        rows.append(
            f'<tr><th scope="row">#{p.run_id}</th><td>{e(clock.when(p.when))}</td><td>{_badge(p.status)}</td>'
            f'<td class="num">{fi(p.read)}</td><td class="num">{fi(p.dropped)}</td>'
            f'<td class="num">{e(_sent_text(p, fi))}</td><td class="num">{e(_size_text(p, fi))}</td>'
            f'<td class="num">{fi(p.held) if p.held is not None else "–"}</td>'
            f'<td class="num">{e(_match_text(p, fp))}</td></tr>'
        )
    out.append(
        f'<div class="scroll"><table class="aud-runs"><caption>Runs of {e(name)}, newest first</caption>'
        '<thead><tr><th scope="col">Run</th><th scope="col">When</th><th scope="col">Status</th>'
        '<th scope="col" class="num">Read</th><th scope="col" class="num">Dropped</th>'
        '<th scope="col" class="num">Sent</th><th scope="col" class="num">Size on Meta</th>'
        '<th scope="col" class="num">Rows held</th><th scope="col" class="num">Match (est.)</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    out.append("</section>")
    return "".join(out)


def _runs_table(runs: Sequence[RunRecord], fi: Callable[[Any], str], clock: Clock) -> str:
    rows = []
    for r in sorted(runs, key=lambda r: r.id, reverse=True):
        start, end = utc(r.started_at), utc(r.finished_at)
        who = "@".join(str(x) for x in (r.user, r.host) if x) or "–"
        counts, msgs = [], []
        for a in r.audiences:
            p_rep = str(a.details.get("strategy") or "") == "replace"
            lo, hi = size_or_none(a.size_lower), size_or_none(a.size_upper)
            size = "–" if lo is None else _fmt_range(fi(lo), fi(hi if hi is not None and hi >= lo else lo))
            sent = f"replace {fi(a.rows_added)}" if p_rep else f"+{fi(a.rows_added)} {MINUS}{fi(a.rows_removed)}"
            counts.append(
                f"<li><span class=nw><code>{e(a.audience)}</code> {_badge(a.status)}</span> "
                f"<span class=nw>read {fi(a.rows_read)}</span> · "
                f"<span class=nw>dropped {fi(a.rows_dropped)}</span> · "
                f"<span class=nw>sent {e(sent)}</span> · <span class=nw>size {e(size)}</span></li>"
            )
            if a.message:
                msgs.append(f"<li><code>{e(a.audience)}</code>: {e(scrub(a.message))}</li>")
        dur = _fmt_duration(start, end)
        digest = str(r.config_digest or "")[:12]
        rows.append(
            f'<tr><th scope="row">#{e(r.id)}</th>'
            f'<td class="when">{e(clock.when(start))}{f"<br><small>{e(dur)}</small>" if dur else ""}</td>'
            f"<td>{e(who)}</td><td>{e(r.command)}</td><td>{_badge(r.status)}</td>"
            f"<td>{f'<code>{e(digest)}</code>' if digest else '–'}</td>"
            f'<td><ul class="counts">{"".join(counts) or "<li>–</li>"}</ul></td>'
            f'<td class="msg">{"<ul class=counts>" + "".join(msgs) + "</ul>" if msgs else ""}</td></tr>'
        )
    return (
        '<section id="runs" aria-labelledby="runs-h"><h2 id="runs-h">Runs</h2>'
        '<div class="scroll"><table class="runs"><caption>Every run, newest first</caption><thead><tr>'
        '<th scope="col">Run</th><th scope="col">When (UTC)</th><th scope="col">Who</th>'
        '<th scope="col">Command</th><th scope="col">Status</th><th scope="col">Config</th>'
        '<th scope="col">Audiences</th><th scope="col">Messages</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table></div></section>"
    )


def _overview(series: list[AudienceSeries], fi: Callable[[Any], str], fp: Callable[[Any], str]) -> str:
    rows = []
    for s in series:
        p = s.latest
        rows.append(
            f'<tr><th scope="row"><a href="#{e(s.anchor)}"><code>{e(s.name)}</code></a></th>'
            f'<td>#{p.run_id}</td><td>{_badge(p.status)}</td><td class="num">{e(_size_text(p, fi))}</td>'
            f'<td class="num">{e(_sent_text(p, fi))}</td><td class="num">{fi(p.dropped)}</td>'
            f'<td class="num">{e(_match_text(p, fp))}</td></tr>'
        )
    return (
        '<nav aria-labelledby="ov-h"><h2 id="ov-h">Audiences</h2><div class="scroll"><table class="overview">'
        '<caption>Latest run of each audience</caption><thead><tr><th scope="col">Audience</th>'
        '<th scope="col">Run</th><th scope="col">Status</th><th scope="col" class="num">Size on Meta</th>'
        '<th scope="col" class="num">Sent</th><th scope="col" class="num">Dropped</th>'
        '<th scope="col" class="num">Match (est.)</th></tr></thead><tbody>'
        + "".join(rows)
        + '</tbody></table></div><p><a href="#runs">All runs</a></p></nav>'
    )


def render_report(
    runs: Sequence[RunRecord | Mapping[str, Any]],
    *,
    title: str = "fbsync report",
    now: datetime | None = None,
    account: str | None = None,
    display_names: Mapping[str, str] | None = None,
    locale: str = "fr",
    timezone: str = "UTC",
) -> str:
    """The whole page for ``runs`` (as :meth:`StateStore.history` returns them, or their rows; any order).

    Pure: no IO; the same input and ``now`` give the same text.  ``locale`` picks the number format
    used everywhere on the page: ``fr`` (12 345, 92,3 %) or ``en`` (12,345, 92.3%); ``timezone`` (an IANA
    name, the config's ``defaults.timezone``) the wall time of every date and the charts' time axis.
    """
    if locale not in LOCALES:
        raise ValueError(f"locale must be one of {', '.join(LOCALES)}, got {locale!r}")
    clock = Clock(timezone, locale)
    now_utc = utc(now) if now is not None else datetime.now(UTC)

    def fi(v: Any) -> str:
        return fmt_int(v, locale)

    def fp(v: Any, digits: int = 1) -> str:
        return fmt_pct(v, locale, digits)

    records = [r if isinstance(r, RunRecord) else RunRecord.from_row(r) for r in runs or []]
    latest_run = max(records, key=lambda r: r.id) if records else None
    digest = str(latest_run.config_digest or "")[:12] if latest_run else ""
    series = audience_series(records, display_names or {})

    meta = [
        ("Generated", e(clock.when(now_utc))),
        ("Account", f"<code>{e(account)}</code>" if account else "not recorded"),
        ("Config digest", f"<code>{e(digest)}</code> (latest run)" if digest else "–"),
    ]
    if records and latest_run is not None:
        first = min(records, key=lambda r: r.id)
        span = [f"#{e(r.id)} ({e(clock.when(utc(r.started_at)))})" for r in (first, latest_run)]
        meta.append(("Runs shown", f"{fi(len(records))}: {span[0]} to {span[1]}"))
    head = (
        '<header class="page"><h1>'
        + e(title)
        + '</h1><dl class="meta">'
        + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in meta)
        + "</dl></header>"
    )
    if not records:
        body = f'<main><p class="empty">{e(EMPTY_MESSAGE)}</p></main>'
    else:
        body = (
            "<main>"
            + _overview(series, fi, fp)
            + "".join(_audience_section(s, fi, fp, clock) for s in series)
            + _runs_table(records, fi, clock)
            + "</main>"
        )
    foot = (
        "<footer>Counts only: this page holds no customer identifier. Sizes are Meta's approximate counts; "
        "match rates are estimates. Numbers use "
        + (
            "French formatting (12&#8239;345, 92,3&#8239;%)."
            if locale == "fr"
            else "English formatting (12,345, 92.3%)."
        )
        + "</footer>"
    )
    page = (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f'<meta name="referrer" content="no-referrer"><meta name="generator" content="fbsync">'
        f"<title>{e(title)}</title><style>{CSS}</style></head>"
        f"<body>{head}{body}{foot}</body></html>\n"
    )
    _check_no_identifiers(page)
    return page


def _check_no_identifiers(page: str) -> None:
    """The page must never carry a hash (SHA-256 hex) of a customer: refuse to produce it."""
    if re.search(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])", page):
        raise ValueError("refusing to write a report containing a SHA-256-like value")


# ---------------------------------------------------------------------------------------- file
def write_report(
    store: Any,
    path: str | os.PathLike[str],
    limit: int = 200,
    *,
    account: str | None = None,
    title: str = "fbsync report",
    now: datetime | None = None,
    locale: str = "fr",
    timezone: str = "UTC",
) -> Path:
    """Render the last ``limit`` runs of ``store`` (a :class:`~fbsync.state.store.StateStore`) to ``path``.

    The file is written beside its destination, flushed, then renamed over it (atomic); mode 0644,
    since it holds counts only.  ``account`` defaults to the ad account(s) recorded with the audiences.
    """
    runs = store.history(limit)
    known = store.all_audiences()
    if account is None:
        accounts = sorted({a.account_id for a in known if a.account_id})
        account = ", ".join(accounts) or None
    # a slot on another ad account (vip@act_…) shows which account it is, beside the same display name
    names = {a.name: f"{a.display_name} ({x})" if (x := split(a.name)[1]) else a.display_name for a in known}
    names = {k: v for k, v in names.items() if v}
    text = render_report(
        runs, title=title, now=now, account=account, display_names=names, locale=locale, timezone=timezone
    )
    dest = Path(path)
    with open_out(dest, mode=0o644, parents=True) as f:  # atomic: a failure leaves the previous report as it was
        f.write(text)
    return dest
