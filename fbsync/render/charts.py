"""Inline SVG charts for the HTML report (:mod:`fbsync.render.html`): pure functions, text in, SVG out.

Every value that reaches the SVG goes through :func:`e`; coordinates have at most one decimal,
so the same data always gives the same bytes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from typing import Any

MINUS = "\u2212"

# Chart geometry (SVG user units; the SVG scales to the page width).
W, H = 560, 250
ML, MR, MT, MB = 74, 12, 30, 40


def e(v: Any) -> str:
    """HTML-escape any value (text and attribute safe)."""
    return html.escape("" if v is None else str(v), quote=True)


def _nice(vmax: float, n: int = 4, integer: bool = True) -> tuple[float, list[float]]:
    """A round top and evenly spaced ticks from 0 for an axis up to ``vmax``."""
    if vmax <= 0:
        vmax = 1
    raw = vmax / n
    mag = 10 ** math.floor(math.log10(raw))
    step = mag
    for m in (1, 2, 2.5, 5, 10):
        step = m * mag
        if step >= raw:
            break
    if integer:
        step = max(1, math.ceil(step))
    top = math.ceil(vmax / step - 1e-9) * step
    k = round(top / step)
    return top, [i * step for i in range(k + 1)]


def _n(x: float) -> str:
    """A coordinate with at most one decimal (keeps the output short and deterministic)."""
    s = f"{x:.1f}"
    return s[:-2] if s.endswith(".0") else s


def _slots(n: int) -> list[float]:
    pw = W - ML - MR
    return [ML + (i + 0.5) * pw / n for i in range(n)]


def _x_labels(xs: list[float], labels: list[str], axis: str = "run") -> str:
    every = max(1, math.ceil(len(xs) / 12))
    out = []
    for i, (x, lab) in enumerate(zip(xs, labels)):
        if i % every == 0 or i == len(xs) - 1:
            out.append(f'<text class="xl" x="{_n(x)}" y="{H - MB + 16}" text-anchor="middle">{e(lab)}</text>')
    out.append(f'<text class="axt" x="{_n((ML + W - MR) / 2)}" y="{H - 6}" text-anchor="middle">{e(axis)}</text>')
    return "".join(out)


def _svg_open(cid: str, title: str, desc: str, height: int = H) -> str:
    return (
        f'<svg id="{e(cid)}" class="chart" viewBox="0 0 {W} {height}" width="{W}" height="{height}" '
        f'role="img" aria-labelledby="{e(cid)}-t {e(cid)}-d" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{e(cid)}-t">{e(title)}</title><desc id="{e(cid)}-d">{e(desc)}</desc>'
    )


def _y_grid(top: float, ticks: list[float], fmt: Callable[[float], str], y: Callable[[float], float]) -> str:
    out = []
    for t in ticks:
        yy = _n(y(t))
        out.append(
            f'<line class="grid" x1="{ML}" x2="{W - MR}" y1="{yy}" y2="{yy}"/>'
            f'<text class="yl" x="{ML - 6}" y="{yy}" dy="0.32em" text-anchor="end">{e(fmt(t))}</text>'
        )
    return "".join(out)


def _legend(items: list[tuple[str, str]]) -> str:
    """Legend inside the SVG, top right: (css class of the swatch, label)."""
    out: list[str] = []
    x: float = W - MR
    for cls, label in reversed(items):
        width = 17 + 7.4 * len(label)
        x -= width
        out.append(
            f'<rect class="{cls}" x="{_n(x)}" y="8" width="11" height="11"/>'
            f'<text class="lg" x="{_n(x + 15)}" y="18">{e(label)}</text>'
        )
        x -= 12
    return '<g class="legend">' + "".join(out) + "</g>"


def band_chart(
    cid: str,
    title: str,
    desc: str,
    labels: list[str],
    lows: list[float | None],
    highs: list[float | None],
    tips: list[str],
    fmt: Callable[[float], str],
    *,
    integer: bool = True,
    ref: float | None = None,
    names: tuple[str, str] = ("lower", "upper"),
    axis: str = "run",
) -> str:
    """Two lines (lower and upper bound) with the band between them, one slot per run; gaps where unknown."""
    n = len(labels)
    xs = _slots(n)
    highs = [h if (h is not None and lo is not None and h >= lo) else lo for lo, h in zip(lows, highs)]
    vmax = max([v for v in highs if v is not None] + [ref or 0, 0])
    top, ticks = _nice(vmax or 1, integer=integer)
    ph = H - MT - MB

    def y(v: float) -> float:
        return MT + ph - (v / top) * ph

    parts = [
        _svg_open(cid, title, desc),
        _legend([("sw-band", f"{names[0]}–{names[1]} band"), ("sw-lower", names[0]), ("sw-upper", names[1])]),
        _y_grid(top, ticks, fmt, y),
    ]
    if ref is not None:
        parts.append(f'<line class="ref" x1="{ML}" x2="{W - MR}" y1="{_n(y(ref))}" y2="{_n(y(ref))}"/>')
    # contiguous segments of known values
    segs: list[list[int]] = []
    for i, lo in enumerate(lows):
        if lo is None:
            continue
        if segs and segs[-1][-1] == i - 1:
            segs[-1].append(i)
        else:
            segs.append([i])
    for seg in segs:
        up = [(xs[i], y(highs[i] or 0)) for i in seg]
        dn = [(xs[i], y(lows[i] or 0)) for i in seg]
        if len(seg) > 1:
            poly = " ".join(f"{_n(a)},{_n(b)}" for a, b in up + dn[::-1])
            parts.append(f'<polygon class="band" points="{poly}"/>')
            parts.append(f'<polyline class="line-upper" points="{" ".join(f"{_n(a)},{_n(b)}" for a, b in up)}"/>')
            parts.append(f'<polyline class="line-lower" points="{" ".join(f"{_n(a)},{_n(b)}" for a, b in dn)}"/>')
        else:
            (xa, ya), (_, yb) = up[0], dn[0]
            parts.append(f'<rect class="band" x="{_n(xa - 5)}" y="{_n(ya)}" width="10" height="{_n(yb - ya)}"/>')
    for i in range(n):
        if lows[i] is None:
            continue
        tip = f"<title>{e(tips[i])}</title>"
        parts.append(f'<circle class="pt-upper" cx="{_n(xs[i])}" cy="{_n(y(highs[i] or 0))}" r="3.5">{tip}</circle>')
        parts.append(f'<circle class="pt-lower" cx="{_n(xs[i])}" cy="{_n(y(lows[i] or 0))}" r="3.5">{tip}</circle>')
    parts.append(_x_labels(xs, labels, axis))
    parts.append("</svg>")
    return "".join(parts)


def sent_chart(
    cid: str,
    title: str,
    desc: str,
    labels: list[str],
    adds: list[int],
    removes: list[int],
    replace: list[bool],
    tips: list[str],
    fmt: Callable[[float], str],
    *,
    axis: str = "run",
) -> str:
    """Bars per run on one scale: rows added up, rows removed down; replace runs in their own colour, marked R."""
    n = len(labels)
    xs = _slots(n)
    bw = max(2.0, min(36.0, (W - ML - MR) / n * 0.6))
    up_max, dn_max = max(adds + [0]), max(removes + [0])
    _, ticks = _nice(max(up_max + dn_max, 1), n=5)
    step = ticks[1]
    top_up = math.ceil(up_max / step) * step if up_max else (0 if dn_max else step)
    top_dn = math.ceil(dn_max / step) * step
    ph = H - MT - MB
    unit = ph / (top_up + top_dn)
    zero = MT + top_up * unit

    def yu(v: float) -> float:
        return zero - v * unit

    def yd(v: float) -> float:
        return zero + v * unit

    parts = [
        _svg_open(cid, title, desc),
        _legend([("sw-add", "added"), ("sw-remove", "removed"), ("sw-replace", "replace")]),
    ]
    grid: list[float] = [t for t in ticks if t <= top_up] if top_up else [0]
    parts.append(_y_grid(top_up, grid, fmt, yu))
    if top_dn:
        parts.append(_y_grid(top_dn, [t for t in ticks if 0 < t <= top_dn], lambda v: MINUS + fmt(v), yd))
    for i in range(n):
        tip = f"<title>{e(tips[i])}</title>"
        x = _n(xs[i] - bw / 2)
        y_top = yu(adds[i])
        cls = "bar-replace" if replace[i] else "bar-add"
        parts.append(
            f'<rect class="{cls}" data-run="{e(labels[i])}" x="{x}" y="{_n(y_top)}" width="{_n(bw)}" '
            f'height="{_n(zero - y_top)}">{tip}</rect>'
        )
        parts.append(
            f'<rect class="bar-remove" data-run="{e(labels[i])}" x="{x}" y="{_n(zero)}" '
            f'width="{_n(bw)}" height="{_n(yd(removes[i]) - zero)}">{tip}</rect>'
        )
        if replace[i]:
            inside = zero - y_top > 20  # a tall bar carries its mark inside, clear of the legend
            parts.append(
                f'<text class="mark{" mark-in" if inside else ""}" x="{_n(xs[i])}" '
                f'y="{_n(y_top + 15 if inside else y_top - 4)}" text-anchor="middle">R</text>'
            )
    parts.append(f'<line class="zero" x1="{ML}" x2="{W - MR}" y1="{_n(zero)}" y2="{_n(zero)}"/>')
    parts.append(_x_labels(xs, labels, axis))
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart(cid: str, title: str, desc: str, rows: list[tuple[str, int]], fmt: Callable[[float], str]) -> str:
    """Horizontal bars, one per reason."""
    lw, row_h, top_m = 190, 26, 10
    height = top_m * 2 + row_h * max(1, len(rows))
    vmax = max([n for _, n in rows] + [0]) or 1
    pw = W - lw - MR - 64
    parts = [_svg_open(cid, title, desc, height)]
    for i, (label, n) in enumerate(rows):
        y = top_m + i * row_h
        w = pw * n / vmax
        parts.append(
            f'<text class="hl" x="{lw - 8}" y="{y + row_h / 2}" dy="0.32em" '
            f'text-anchor="end">{e(label)}</text>'
            f'<rect class="bar-drop" x="{lw}" y="{y + 4}" width="{_n(w)}" height="{row_h - 8}">'
            f"<title>{e(label)}: {e(fmt(n))}</title></rect>"
            f'<text class="hv" x="{_n(lw + w + 6)}" y="{y + row_h / 2}" dy="0.32em">{e(fmt(n))}</text>'
        )
    if not rows:
        parts.append(
            f'<text class="hl" x="{W / 2}" y="{height / 2}" dy="0.32em" text-anchor="middle">nothing dropped</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
