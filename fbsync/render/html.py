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
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..state.records import RunRecord
from ..util import as_int
from .charts import MINUS, band_chart, e, hbar_chart, sent_chart

__all__ = ["EMPTY_MESSAGE", "fmt_int", "fmt_pct", "render_report", "write_report"]

EMPTY_MESSAGE = "No runs yet: run fbsync sync"
LOCALES = ("fr", "en")
NNBSP = "\u202f"  # narrow no-break space: French (and SI) thousands separator

_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.IGNORECASE)
_HEX = re.compile(r"\b[0-9a-fA-F]{32,}\b")
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


def _when(v: Any) -> datetime | None:
    """A run timestamp as an aware UTC datetime (SQLite gives naive UTC ones, JSON gives strings)."""
    if v is None or v == "":
        return None
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(v, datetime):
        return None
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


def _fmt_when(d: datetime | None) -> str:
    return d.strftime("%Y-%m-%d %H:%M UTC") if d else "–"


def _fmt_duration(a: datetime | None, b: datetime | None) -> str:
    if not a or not b:
        return ""
    s = max(0, round((b - a).total_seconds()))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _scrub(text: Any) -> str:
    """Free text (messages) with anything e-mail- or hash-like replaced: the page holds counts only."""
    s = "" if text is None else str(text)
    return _HEX.sub("[redacted]", _EMAIL.sub("[redacted]", s))


def _size(v: Any) -> int | None:
    """Meta answers -1 (or nothing) when it has no estimate."""
    n = as_int(v)
    return n if n is not None and n >= 0 else None


# ---------------------------------------------------------------------------------------- the data
@dataclass
class Point:
    """One audience in one run."""

    run_id: int
    when: datetime | None
    status: str
    run_status: str
    meta_id: str | None
    read: int
    dropped: int  # rows not sent: no consent + no usable identifier
    no_consent: int
    added: int  # for a replace run: the rows sent by /usersreplace
    removed: int
    lower: int | None
    upper: int | None
    strategy: str
    action: str
    drops: dict[str, dict[str, int]]
    empty: dict[str, int]
    message: str
    desired: int | None = None  # rows the run meant Meta to hold, when the run recorded it
    held: int | None = None  # rows fbsync holds as sent to Meta after this run (its ledger)
    held_exact: bool = True  # False: read − dropped, an upper bound (duplicates are merged)

    @property
    def replace(self) -> bool:
        return self.strategy == "replace"

    @property
    def no_identifier(self) -> int:
        return max(0, self.dropped - self.no_consent)

    @property
    def match(self) -> tuple[float, float] | None:
        if self.lower is None or not self.held:
            return None
        hi = self.upper if self.upper is not None and self.upper >= self.lower else self.lower
        return self.lower / self.held, hi / self.held


@dataclass
class AudienceSeries:
    name: str
    anchor: str
    display_name: str | None = None
    points: list[Point] = field(default_factory=list)  # oldest first

    @property
    def latest(self) -> Point:
        return self.points[-1]


def _counts(d: Any) -> dict[str, int]:
    if not isinstance(d, dict):
        return {}
    return {str(k): n for k, v in d.items() if (n := as_int(v)) is not None}


def _series(runs: Sequence[RunRecord], display_names: Mapping[str, str]) -> list[AudienceSeries]:
    by_name: dict[str, AudienceSeries] = {}
    for run in sorted(runs, key=lambda r: r.id):
        for a in run.audiences:
            d = a.details
            drops_raw = d.get("drops") if isinstance(d.get("drops"), dict) else {}
            drops = {str(k): c for k, v in sorted(drops_raw.items()) if (c := _counts(v))}
            p = Point(
                run_id=run.id,
                when=_when(run.started_at),
                status=a.status,
                run_status=run.status,
                meta_id=a.meta_id,
                read=a.rows_read,
                dropped=a.rows_dropped,
                no_consent=as_int(d.get("no_consent")) or 0,
                added=a.rows_added,
                removed=a.rows_removed,
                lower=_size(a.size_lower),
                upper=_size(a.size_upper),
                strategy=str(d.get("strategy") or "diff"),
                action=str(d.get("action") or ""),
                drops=drops,
                empty=_counts(d.get("empty")),
                message=_scrub(a.message),
                desired=as_int(d.get("desired", d.get("rows_desired"))),
            )
            if a.audience not in by_name:
                by_name[a.audience] = AudienceSeries(a.audience, "", display_names.get(a.audience))
            by_name[a.audience].points.append(p)
    out = [by_name[n] for n in sorted(by_name)]
    used: set[str] = set()
    for s in out:
        base = "aud-" + (_SAFE_ID.sub("-", s.name.lower()).strip("-") or "x")
        anchor, i = base, 2
        while anchor in used:
            anchor, i = f"{base}-{i}", i + 1
        used.add(anchor)
        s.anchor = anchor
        _fill_held(s.points)
    return out


def _fill_held(points: list[Point]) -> None:
    """The match rate's denominator: the rows fbsync has sent and not removed (its ledger) after each run.

    Exact when the run recorded it (details ``desired``), or when the history shows where the ledger
    started: a run that created the audience (empty ledger) or a finished replace (the replaced rows),
    then every later run's adds minus removes (only acknowledged batches are counted, so a failed run
    counts too).  A replace that did not finish leaves the ledger as it was; the run that resumes it
    sends only the rest, so the count is lost there.  Where it is unknown, it falls back to rows read
    minus rows dropped for a successful run: an upper bound, since duplicate rows are merged before sending.
    """
    ledger: int | None = None
    resumed = False  # an unfinished replace: the next replace run sends only the rest
    for p in points:
        if p.desired is not None and p.status == "ok":
            ledger = p.desired
        elif p.replace:
            if p.status == "ok":
                ledger = None if resumed else p.added
                resumed = False
            else:
                resumed = True
        elif p.action == "created":
            ledger = p.added - p.removed
        elif ledger is not None:
            ledger += p.added - p.removed
        if ledger is not None and ledger < 0:
            ledger = None
        if ledger is not None:
            p.held, p.held_exact = ledger, True
        elif p.status == "ok" and p.read:
            p.held, p.held_exact = max(0, p.read - p.dropped), False


# ---------------------------------------------------------------------------------------- page
CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--soft:#f6f8fa;--add:#1a7f37;--rem:#cf222e;
--rep:#8250df;--lo:#0969da;--hi:#0550ae;--band:#54aeff;--drop:#bc4c00}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;print-color-adjust:exact;-webkit-print-color-adjust:exact}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",Arial,sans-serif;
color:var(--fg);background:var(--bg)}
main,header.page,footer{max-width:1100px;margin:0 auto;padding:0 16px}
header.page{padding-top:20px;border-bottom:1px solid var(--line)}
h1{font-size:1.7rem;margin:0 0 8px}
h2{font-size:1.35rem;margin:32px 0 4px;padding-top:8px;border-top:2px solid var(--line)}
h3{font-size:1.05rem;margin:20px 0 6px}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0 0 14px}
.meta dt{color:var(--muted)}.meta dd{margin:0;font-variant-numeric:tabular-nums}
code{font:0.92em ui-monospace,"Liberation Mono",Menlo,Consolas,monospace}
nav ul{padding-left:20px;margin:4px 0 12px}
.sub{color:var(--muted);margin:0 0 8px}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:6px 0 12px}
table{border-collapse:collapse;width:100%;font-size:0.92rem}
caption{text-align:left;font-weight:600;padding:4px 0;color:var(--muted)}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;vertical-align:top;text-align:left}
thead th{background:var(--soft);border-bottom:2px solid var(--line);white-space:nowrap}
tbody th{font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));gap:0 28px}
.panel{min-width:0;break-inside:avoid;page-break-inside:avoid}
figure{margin:6px 0 14px;break-inside:avoid;page-break-inside:avoid}
figcaption{color:var(--muted);font-size:0.9rem;margin-top:2px}
svg.chart{display:block;width:100%;height:auto;border:1px solid var(--line);border-radius:6px;
background:#fff;font-family:system-ui,"Liberation Sans",Arial,sans-serif}
.grid{stroke:#e6eaef;stroke-width:1}.zero{stroke:#59636e;stroke-width:1.2}.ref{stroke:#59636e;stroke-dasharray:4 3}
.yl,.xl,.lg,.hl,.hv,.axt{font-size:13px;fill:#3d444d}.axt{fill:#59636e}.hl{font-size:13px}
.mark{font-size:13px;font-weight:700;fill:var(--rep)}.mark-in{fill:#fff}
.band,.sw-band{fill:var(--band);fill-opacity:.3;stroke:none}
.line-lower{fill:none;stroke:var(--lo);stroke-width:2}
.line-upper{fill:none;stroke:var(--hi);stroke-width:1.5;stroke-dasharray:5 3}
.pt-lower,.sw-lower{fill:var(--lo)}.pt-upper,.sw-upper{fill:#fff;stroke:var(--hi);stroke-width:1.5}
.sw-upper{fill:var(--hi)}
.bar-add,.sw-add{fill:var(--add)}.bar-remove,.sw-remove{fill:var(--rem)}
.bar-replace,.sw-replace{fill:var(--rep)}.bar-drop{fill:var(--drop)}
.badge{display:inline-block;padding:0 7px;border-radius:10px;font-size:0.82rem;font-weight:600;
border:1px solid currentColor;white-space:nowrap}
.st-ok{color:var(--add)}.st-failed,.st-refused,.st-interrupted{color:var(--rem)}
.st-partial,.st-running,.st-skipped{color:#9a6700}
.estimate{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:8px 12px;margin:8px 0}
.big{font-size:1.25rem;font-weight:700;font-variant-numeric:tabular-nums}
ul.counts{list-style:none;margin:0;padding:0}ul.counts li{margin-bottom:2px}.nw{white-space:nowrap}
.msg{max-width:28em;overflow-wrap:anywhere}
table.runs td.when{min-width:8em}table.runs ul.counts{min-width:16em}
.empty{font-size:1.2rem;padding:40px 0}
footer{color:var(--muted);font-size:0.85rem;padding-top:16px;padding-bottom:24px}
@media (max-width:640px){body{font-size:14px}h1{font-size:1.35rem}h2{font-size:1.15rem}
th,td{padding:4px 5px}.meta{grid-template-columns:1fr}.meta dt{margin-top:4px}}
@media print{body{font-size:10.5pt}nav{display:none}a{color:inherit;text-decoration:none}
h2{break-before:page;page-break-before:always}section.audience:first-of-type h2{break-before:auto}
h2,h3{break-after:avoid}tr{break-inside:avoid}.scroll{overflow:visible}svg.chart{max-width:100%}}
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


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
    return ("≈ " if not p.held_exact else "") + _fmt_range(fp(m[0]), fp(m[1]))


def _drop_rows(s: AudienceSeries) -> list[tuple[str, int, int]]:
    """(reason, latest run, total over the runs shown) for every reason seen in any run."""
    latest = s.latest
    rows = [
        ("No consent", latest.no_consent, sum(p.no_consent for p in s.points)),
        ("No usable identifier", latest.no_identifier, sum(p.no_identifier for p in s.points)),
    ]
    reasons = sorted({(k, r) for p in s.points for k, rs in p.drops.items() for r in rs})
    for k, r in reasons:
        rows.append(
            (f"{k}: {r}", latest.drops.get(k, {}).get(r, 0), sum(p.drops.get(k, {}).get(r, 0) for p in s.points))
        )
    return rows


def _audience_section(s: AudienceSeries, fi: Callable[[Any], str], fp: Callable[[Any], str]) -> str:
    pts = s.points
    labels = [f"#{p.run_id}" for p in pts]
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
        f"({e(_fmt_when(latest.when))}) {_badge(latest.status)}"
    )
    out.append(f'<p class="sub">{" · ".join(bits)}</p>')
    if latest.message:
        out.append(f'<p class="msg">Latest message: {e(latest.message)}</p>')

    # 1. size on Meta
    sized = [p for p in pts if p.lower is not None]
    desc = f"Approximate audience size reported by Meta after each of {len(pts)} runs, lower and upper bound. " + (
        f"Latest (run #{sized[-1].run_id}): {_size_text(sized[-1], fi)}." if sized else "No size reported."
    )
    tips = [f"Run #{p.run_id} ({_fmt_when(p.when)}): size {_size_text(p, fi)}" for p in pts]
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
            f"({_size_text(lm, fi)}) ÷ rows fbsync has sent and not removed ({fi(lm.held)}"
            f"{'' if lm.held_exact else ', at most'}). <strong>An estimate only</strong>: Meta rounds its "
            "counts and takes up to 24 hours to match uploaded rows, so a fresh run reads low.</p>"
        )
    else:
        head += '<p class="estimate">Match rate: no estimate yet (Meta reported no size).</p>'
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
        )
        + "<figcaption>Size lower bound ÷ rows sent (solid) to upper bound ÷ rows sent (dashed); the dotted "
        f"line is {fp(1.0, digits=0)}. Estimate: Meta matching takes up to 24 h.</figcaption></figure>"
        "</div></div>" + drop_table
    )

    # 5. per-run data (also the accessible version of the charts)
    rows = []
    for p in reversed(pts):
        rows.append(
            f'<tr><th scope="row">#{p.run_id}</th><td>{e(_fmt_when(p.when))}</td><td>{_badge(p.status)}</td>'
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


def _runs_table(runs: Sequence[RunRecord], fi: Callable[[Any], str]) -> str:
    rows = []
    for r in sorted(runs, key=lambda r: r.id, reverse=True):
        start, end = _when(r.started_at), _when(r.finished_at)
        who = "@".join(str(x) for x in (r.user, r.host) if x) or "–"
        counts, msgs = [], []
        for a in r.audiences:
            p_rep = str(a.details.get("strategy") or "") == "replace"
            lo, hi = _size(a.size_lower), _size(a.size_upper)
            size = "–" if lo is None else _fmt_range(fi(lo), fi(hi if hi is not None and hi >= lo else lo))
            sent = f"replace {fi(a.rows_added)}" if p_rep else f"+{fi(a.rows_added)} {MINUS}{fi(a.rows_removed)}"
            counts.append(
                f"<li><span class=nw><code>{e(a.audience)}</code> {_badge(a.status)}</span> "
                f"<span class=nw>read {fi(a.rows_read)}</span> · "
                f"<span class=nw>dropped {fi(a.rows_dropped)}</span> · "
                f"<span class=nw>sent {e(sent)}</span> · <span class=nw>size {e(size)}</span></li>"
            )
            if a.message:
                msgs.append(f"<li><code>{e(a.audience)}</code>: {e(_scrub(a.message))}</li>")
        dur = _fmt_duration(start, end)
        digest = str(r.config_digest or "")[:12]
        rows.append(
            f'<tr><th scope="row">#{e(r.id)}</th>'
            f'<td class="when">{e(_fmt_when(start))}{f"<br><small>{e(dur)}</small>" if dur else ""}</td>'
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
) -> str:
    """The whole page for ``runs`` (as :meth:`StateStore.history` returns them, or their rows; any order).

    Pure: no IO; the same input and ``now`` give the same text.  ``locale`` picks the number format
    used everywhere on the page: ``fr`` (12 345, 92,3 %) or ``en`` (12,345, 92.3%).
    """
    if locale not in LOCALES:
        raise ValueError(f"locale must be one of {', '.join(LOCALES)}, got {locale!r}")
    now_utc = _when(now) if now is not None else datetime.now(UTC)

    def fi(v: Any) -> str:
        return fmt_int(v, locale)

    def fp(v: Any, digits: int = 1) -> str:
        return fmt_pct(v, locale, digits)

    records = [r if isinstance(r, RunRecord) else RunRecord.from_row(r) for r in runs or []]
    latest_run = max(records, key=lambda r: r.id) if records else None
    digest = str(latest_run.config_digest or "")[:12] if latest_run else ""
    series = _series(records, display_names or {})

    meta = [
        ("Generated", e(_fmt_when(now_utc))),
        ("Account", f"<code>{e(account)}</code>" if account else "not recorded"),
        ("Config digest", f"<code>{e(digest)}</code> (latest run)" if digest else "–"),
    ]
    if records and latest_run is not None:
        first = min(records, key=lambda r: r.id)
        span = [f"#{e(r.id)} ({e(_fmt_when(_when(r.started_at)))})" for r in (first, latest_run)]
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
            + "".join(_audience_section(s, fi, fp) for s in series)
            + _runs_table(records, fi)
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
    names = {a.name: a.display_name for a in known if a.display_name}
    text = render_report(runs, title=title, now=now, account=account, display_names=names, locale=locale)
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return dest
