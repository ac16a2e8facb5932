"""The HTML report (``fbsync report -o report.html``): pure rendering, then real history, then a real browser.

The history is made by the real code: ``fbsync sync`` of the demo CRM against the local sandbox, with a
week of churn between runs, a full replace, a refused shrink and a forced run.  The browser tests use
Debian's Chromium from the command line (``--dump-dom``, ``--screenshot``); they are skipped when it is
absent unless ``FBSYNC_REQUIRE_BROWSER_TESTS=1`` (CI, after ``scripts/ensure-chromium.sh``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import struct
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import pytest
from e2e_helpers import Workdir, make_workdir

from fbsync.dev.demo import churn
from fbsync.render.html import EMPTY_MESSAGE, MINUS, fmt_int, fmt_pct, render_report, write_report
from fbsync.sandbox import running_sandbox
from fbsync.state.store import StateStore

NOW = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
CHROMIUM = "/usr/bin/chromium"


# ------------------------------------------------------------------------------------------ helpers
class Page(HTMLParser):
    """Every start tag with its attributes, the text of some elements, and nesting sanity."""

    VOID: ClassVar[set[str]] = {
        "meta",
        "br",
        "link",
        "img",
        "input",
        "hr",
        "rect",
        "circle",
        "line",
        "polyline",
        "polygon",
        "path",
    }

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, list[str]] = {}
        self.stack: list[tuple[str, list[str]]] = []
        self.errors: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append((tag, []))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1][0] != tag:
            self.errors.append(f"unexpected </{tag}> (open: {[t for t, _ in self.stack][-3:]})")
            return
        t, parts = self.stack.pop()
        self.text.setdefault(t, []).append("".join(parts).strip())
        if self.stack:
            self.stack[-1][1].extend(parts)

    def handle_data(self, data: str) -> None:
        if self.stack:
            self.stack[-1][1].append(data)

    def all(self, tag: str, cls: str | None = None) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and (cls is None or cls in (a.get("class") or "").split())]


def svg_blocks(page: str) -> dict[str, str]:
    """Each <svg id=…>…</svg> of the page by id."""
    return {m.group(1): m.group(0) for m in re.finditer(r'<svg id="([^"]+)".*?</svg>', page, re.S)}


def count(block: str, cls: str) -> int:
    return len(re.findall(rf'<(?:rect|circle|polyline|polygon)\b[^>]*class="{cls}"', block))


def details(a: dict[str, Any]) -> dict[str, Any]:
    return json.loads(a["details"] or "{}")


# ------------------------------------------------------------------------------------------ synthetic runs
def run(rid: int, *auds: dict[str, Any], status: str = "ok", minute: int = 0, **kw: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "command": "sync",
        "started_at": datetime(2025, 3, rid, 6, minute),
        "finished_at": datetime(2025, 3, rid, 6, minute, 42),
        "status": status,
        "config_digest": "0123456789abcdef" * 4,
        "user": "marie",
        "host": "crm-box",
        "summary": json.dumps({"audiences": len(auds)}),
        "audiences": list(auds),
        **kw,
    }


def aud(
    name: str,
    *,
    added: int = 0,
    removed: int = 0,
    lower: int | None = None,
    upper: int | None = None,
    read: int = 0,
    dropped: int = 0,
    status: str = "ok",
    message: str | None = None,
    strategy: str = "diff",
    action: str = "unchanged",
    no_consent: int = 0,
    drops: dict[str, dict[str, int]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "audience": name,
        "status": status,
        "meta_id": "23850000000000042",
        "rows_read": read,
        "rows_dropped": dropped,
        "rows_added": added,
        "rows_removed": removed,
        "size_lower": lower,
        "size_upper": upper,
        "message": message,
        "details": json.dumps(
            {
                "drops": drops or {},
                "empty": {},
                "no_consent": no_consent,
                "strategy": strategy,
                "action": action,
                **extra,
            }
        ),
    }


SYNTH = [
    run(
        1,
        aud(
            "alpha",
            added=1000,
            lower=900,
            upper=1100,
            read=1300,
            dropped=300,
            no_consent=250,
            action="created",
            drops={"EMAIL": {"invalid email": 40}},
        ),
    ),
    run(
        2,
        aud(
            "alpha",
            added=100,
            removed=50,
            lower=1000,
            upper=1200,
            read=1360,
            dropped=310,
            no_consent=255,
            drops={"EMAIL": {"invalid email": 30}, "PHONE": {"invalid phone": 7}},
        ),
        aud("beta", added=10, removed=2, lower=-1, upper=-1, read=20, dropped=1),
    ),
    run(
        3,
        aud("alpha", added=2000, lower=1500, upper=2000, strategy="replace", read=2400, dropped=400, no_consent=380),
        aud("beta", status="failed", message="Meta said no (code 2)"),
        status="partial",
    ),
]


def test_empty_history_is_a_valid_page_saying_to_sync() -> None:
    page = render_report([], now=NOW)
    p = Page(page)
    assert page.startswith("<!DOCTYPE html>") and not p.errors and not p.stack
    assert EMPTY_MESSAGE == "No runs yet: run fbsync sync" and EMPTY_MESSAGE in page
    assert p.text["title"] == ["fbsync report"] and p.text["h1"] == ["fbsync report"]
    assert "<svg" not in page and "2025-03-10 09:30 UTC" in page


def test_numbers_charts_and_estimates_of_synthetic_runs() -> None:
    page = render_report(SYNTH, now=NOW, account="act_42")
    p = Page(page)
    assert not p.errors and not p.stack
    assert "act_42" in page and "0123456789ab" in page and "0123456789abc" not in page  # digest: 12 chars
    svgs = svg_blocks(page)
    # alpha: 3 runs, every one with a size; beta: 2 runs, Meta gave no estimate (-1) then failed
    assert count(svgs["aud-alpha-size"], "pt-lower") == 3 == count(svgs["aud-alpha-size"], "pt-upper")
    assert count(svgs["aud-beta-size"], "pt-lower") == 0
    assert count(svgs["aud-alpha-sent"], "bar-add") == 2 and count(svgs["aud-alpha-sent"], "bar-replace") == 1
    assert count(svgs["aud-alpha-sent"], "bar-remove") == 3 and svgs["aud-alpha-sent"].count(">R</text>") == 1
    assert count(svgs["aud-beta-sent"], "bar-add") == 2 and count(svgs["aud-beta-sent"], "bar-remove") == 2
    # drop reasons: no consent, no usable identifier, EMAIL invalid email, PHONE invalid phone
    assert count(svgs["aud-alpha-drops"], "bar-drop") == 4
    drops = re.search(r'<table class="drops">.*?</table>', page.split('id="aud-alpha"')[1], re.S).group(0)
    rows = dict(
        re.findall(r'<th scope="row">([^<]+)</th><td class="num">[^<]*</td><td class="num">([^<]+)</td>', drops)
    )
    assert rows == {
        "No consent": fmt_int(885),
        "No usable identifier": fmt_int(125),
        "EMAIL: invalid email": fmt_int(70),
        "PHONE: invalid phone": fmt_int(7),
    }
    # match rate: size ÷ rows held (created 1000; +100 −50 → 1050; replace 2000), capped at 100 %: one row
    # matches one person at most, so an upper bound above the rows sent is Meta's rounding
    assert f"{fmt_pct(0.9)}–{fmt_pct(1.0)}" in page
    assert f"{fmt_pct(1000 / 1050)}–{fmt_pct(1.0)}" in page
    assert fmt_pct(1.1) not in page and fmt_pct(1200 / 1050) not in page
    assert f"{fmt_pct(0.75)}–{fmt_pct(1.0)}" in page
    assert "estimate" in page.split('id="aud-alpha-match"')[0].rsplit("<h3>", 1)[1].lower()
    # sizes and sent counts, French format (narrow no-break space), true minus sign
    assert fmt_int(12345) == "12\u202f345" and fmt_pct(0.923) == "92,3\u202f%"
    assert f"{fmt_int(1500)}–{fmt_int(2000)}" in page and f"+{fmt_int(100)} {MINUS}{fmt_int(50)}" in page
    assert f"replace {fmt_int(2000)}" in page
    # runs table: newest first, who, status, message
    runs = re.search(r'<table class="runs">.*?</table>', page, re.S).group(0)
    assert re.findall(r'<th scope="row">#(\d+)</th>', runs) == ["3", "2", "1"]
    assert runs.count("marie@crm-box") == 3 and "Meta said no (code 2)" in runs
    assert "2025-03-03 06:00 UTC" in runs and "42 s" in runs


def test_rows_held_when_history_starts_mid_way() -> None:
    """No creation or replace in sight: read − dropped, marked as approximate, until a run records more."""
    runs = [
        run(7, aud("g", added=5, removed=3, lower=800, upper=800, read=1000, dropped=200)),
        run(8, aud("g", added=1, lower=800, upper=800, read=1000, dropped=200, desired=790)),
        run(9, aud("g", added=10, removed=0, lower=800, upper=800, read=1010, dropped=200)),
    ]
    page = render_report(runs, now=NOW)
    table = re.search(r'<table class="aud-runs">.*?</table>', page, re.S).group(0)
    cells = {
        rid: re.findall(r'<td class="num">([^<]*)</td>', row)[-2:]
        for rid, row in re.findall(r'<th scope="row">#(\d+)</th>(.*?)</tr>', table, re.S)
    }
    assert cells["7"] == [fmt_int(800), f"≈ {fmt_pct(1.0)}"]  # 1000 − 200, an upper bound
    assert cells["8"] == [fmt_int(790), fmt_pct(1.0)]  # recorded by the run; 800 ÷ 790 capped at 100 %
    assert cells["9"] == [fmt_int(800), fmt_pct(1.0)]  # 790 + 10


def test_render_is_pure_and_deterministic() -> None:
    shuffled = [SYNTH[2], SYNTH[0], SYNTH[1]]
    assert render_report(SYNTH, now=NOW) == render_report(shuffled, now=NOW)
    assert render_report(SYNTH, now=NOW) != render_report(SYNTH, now=NOW.replace(minute=31))
    en = render_report(SYNTH, now=NOW, locale="en")
    assert "1,050" in en and "1\u202f050" not in en and "90.0%–100.0%" in en
    with pytest.raises(ValueError):
        render_report(SYNTH, now=NOW, locale="de")


def test_user_text_is_escaped_and_nothing_is_fetched() -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;"\''
    runs = [
        run(
            1,
            aud(
                evil,
                added=5,
                lower=5,
                upper=5,
                read=5,
                action="created",
                message='<a href="https://evil.example/">click</a> for jane.doe@example.com ' + "ab" * 32,
                drops={"<b>K</b>": {"<i>why</i>": 1}},
            ),
            user="<u>",
            host='"h"',
        )
    ]
    page = render_report(runs, title="<T>", now=NOW)
    p = Page(page)
    assert not p.errors and not p.stack
    assert not p.all("script") and not p.all("img") and not p.all("link") and not p.all("iframe")
    assert all(not k.startswith("on") for _, attrs in p.tags for k in attrs)
    assert not [a for a in p.all("a") if not (a.get("href") or "").startswith("#")]
    for _, attrs in p.tags:
        for k in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
            assert "http" not in (attrs.get(k) or "") and not (attrs.get(k) or "").startswith("//")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page)
    assert "url(" not in page and "@import" not in page
    assert "&lt;a href=&quot;https://evil.example/&quot;&gt;click&lt;/a&gt;" in page  # shown as text only
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page and "&lt;T&gt;" in page
    assert "&lt;u&gt;@&quot;h&quot;" in page and "&lt;b&gt;K&lt;/b&gt;: &lt;i&gt;why&lt;/i&gt;" in page
    # messages are scrubbed of anything e-mail- or hash-like: the page carries counts only
    assert "jane.doe" not in page and "ab" * 32 not in page and "[redacted]" in page
    assert "default-src 'none'" in page


def test_a_hash_never_reaches_the_page() -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        render_report([run(1, aud("a" * 64, added=1))], now=NOW)


# ------------------------------------------------------------------------------------------ real history
@dataclass
class History:
    wd: Workdir
    runs: list[dict[str, Any]]
    report: Path
    page: str
    outputs: list[str]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, demo_crm: Path) -> Iterator[History]:
    """Five real runs: create; churn; churn + vip as a full replace; a refused shrink; vip forced."""
    base = tmp_path_factory.mktemp("report")
    mp = pytest.MonkeyPatch()
    for k in (
        "FB_ACCESS_TOKEN",
        "FB_APP_SECRET",
        "FB_AD_ACCOUNT_ID",
        "FBSYNC_GRAPH_URL",
        "FBSYNC_CRM_URL",
        "FBSYNC_STATE_DIR",
        "FBSYNC_STATE_URL",
        "FBSYNC_STATE_KEY",
    ):
        mp.delenv(k, raising=False)
    try:
        with running_sandbox() as sb:
            wd = make_workdir(base / "wd", demo_crm, sb.url)
            yaml_path = wd.path / "audiences.yaml"
            text = yaml_path.read_text(encoding="utf-8")
            outputs = []

            def sync(*args: str, code: int = 0) -> None:
                r = wd.run("sync", *args)
                assert r.exit_code == code, r.output
                outputs.append(r.output)

            sync()  # 1: created
            churn(wd.crm, seed=1)
            sync()  # 2: a week of churn
            churn(wd.crm, seed=2)
            yaml_path.write_text(
                text.replace("  - name: vip\n", "  - name: vip\n    mode: replace\n"), encoding="utf-8"
            )
            sync()  # 3: vip replaced in full
            yaml_path.write_text(text, encoding="utf-8")
            con = sqlite3.connect(wd.crm)
            con.execute("UPDATE customers SET is_vip = 0 WHERE id % 10 != 0")
            con.commit()
            con.close()
            sync(code=1)  # 4: vip refused (shrink)
            sync("vip", "--force")  # 5: vip forced
            store = StateStore.open(wd.state)
            runs = [r.to_dict() for r in store.history(200)]
            path = write_report(store, base / "out" / "report.html")
            store.engine.dispose()
            yield History(wd, runs, path, path.read_text(encoding="utf-8"), outputs)
    finally:
        mp.undo()


def test_real_history_has_a_section_and_four_charts_per_audience(history: History) -> None:
    page, runs = history.page, history.runs
    assert [r["id"] for r in runs] == [5, 4, 3, 2, 1] and runs[1]["status"] == "partial"
    assert "http" not in page.replace("http-equiv", "") and "url(" not in page  # nothing to fetch, anywhere
    p = Page(page)
    assert not p.errors and not p.stack
    names = sorted({a["audience"] for r in runs for a in r["audiences"]})
    assert names == ["lapsed_customers", "recent_buyers", "vip"]
    assert p.text["h2"] == ["Audiences"] + [f"Audience {n}" for n in names] + ["Runs"]
    svgs = svg_blocks(page)
    assert len(svgs) == 4 * len(names)
    for n in names:
        entries = [a for r in sorted(runs, key=lambda r: r["id"]) for a in r["audiences"] if a["audience"] == n]
        sid = f"aud-{n}"
        assert f'<section class="audience" id="{sid}"' in page
        for kind in ("size", "sent", "drops", "match"):
            block = svgs[f"{sid}-{kind}"]
            assert 'role="img"' in block and "<title" in block and "<desc" in block and "aria-labelledby" in block
        sized = [a for a in entries if a["size_lower"] is not None]
        assert count(svgs[f"{sid}-size"], "pt-lower") == len(sized) > 0
        replaced = [a for a in entries if details(a)["strategy"] == "replace"]
        sent = svgs[f"{sid}-sent"]
        assert count(sent, "bar-add") + count(sent, "bar-replace") == len(entries) == count(sent, "bar-remove")
        assert count(sent, "bar-replace") == len(replaced)
        reasons = {(k, r) for a in entries for k, rs in details(a)["drops"].items() for r in rs}
        assert count(svgs[f"{sid}-drops"], "bar-drop") == 2 + len(reasons)
    assert len([a for r in runs for a in r["audiences"] if a["audience"] == "vip"]) == 5
    assert count(svgs["aud-vip-sent"], "bar-replace") == 1


def test_real_history_numbers(history: History) -> None:
    page, runs = history.page, history.runs
    table = re.search(r'<table class="runs">.*?</table>', page, re.S).group(0)
    for r in runs:
        row = re.search(rf'<tr><th scope="row">#{r["id"]}</th>.*?</tr>', table, re.S).group(0)
        assert f"{r['user']}@{r['host']}" in row and f">{r['status']}<" in row and r["config_digest"][:12] in row
        for a in r["audiences"]:
            d = details(a)
            sent = (
                f"replace {fmt_int(a['rows_added'])}"
                if d["strategy"] == "replace"
                else f"+{fmt_int(a['rows_added'])} {MINUS}{fmt_int(a['rows_removed'])}"
            )
            line = re.search(rf"<code>{a['audience']}</code>.*?</li>", row).group(0)
            assert f"read {fmt_int(a['rows_read'])}<" in line and f"dropped {fmt_int(a['rows_dropped'])}<" in line
            assert f"sent {sent}<" in line and f">{a['status']}<" in line
            if a["size_lower"] is not None:
                assert f"size {fmt_int(a['size_lower'])}" in line
            if a["message"]:
                assert "--force" in a["message"]
                assert a["message"].replace('"', "&quot;").replace("'", "&#x27;") in row
    # drop totals over the runs shown, per audience
    for n in ("recent_buyers", "vip"):
        entries = [a for r in runs for a in r["audiences"] if a["audience"] == n]
        section = page.split(f'id="aud-{n}"')[1].split("</section>")[0]
        total = sum(details(a)["no_consent"] for a in entries)
        assert '<th scope="row">No consent</th><td class="num">' in section
        assert re.search(rf'No consent</th><td class="num">[^<]+</td><td class="num">{fmt_int(total)}</td>', section)
    # the sandbox matches part of the rows to people, as Meta does: every run's estimated match rate is a
    # share a marketer would recognise (the sandbox's defaults: 50 % of e-mails, 30 % of phones…), said to be
    # an estimate
    section = page.split('id="aud-lapsed_customers"')[1].split("</section>")[0]
    assert section.count(f">{fmt_pct(1.0)}<") == 0
    rates = [float(x.replace(",", ".")) for x in re.findall(r'<td class="num">(?:≈ )?(\d+,\d)\u202f%</td>', section)]
    assert len(rates) >= 4 and all(30 < r < 100 for r in rates), rates
    assert "An estimate only" in section and "24 hours" in section
    assert "Clients inactifs (plus d&#x27;un an)" in section  # display name from the state store
    assert "act_1234567890" in page.split("</header>")[0]


def test_written_file_is_atomic_0644_and_holds_no_identifier(history: History, tmp_path: Path) -> None:
    path = history.report
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert [f.name for f in path.parent.iterdir()] == ["report.html"]  # no temporary left behind
    store = StateStore.open(history.wd.state)
    try:
        again = write_report(store, path, now=NOW)
        assert again == path and EMPTY_MESSAGE not in path.read_text(encoding="utf-8")
        assert path.read_text(encoding="utf-8") == render_report(
            store.history(200),
            now=NOW,
            account="act_1234567890",
            display_names={a.name: a.display_name for a in store.all_audiences()},
        )
        two = write_report(store, tmp_path / "two.html", limit=2).read_text(encoding="utf-8")
        table = re.search(r'<table class="runs">.*?</table>', two, re.S).group(0)
        assert re.findall(r'<th scope="row">#(\d+)</th>', table) == ["5", "4"]
    finally:
        store.engine.dispose()
    page = history.page
    con = sqlite3.connect(history.wd.crm)
    emails = [e.strip().lower() for (e,) in con.execute("SELECT email FROM customers WHERE email LIKE '%@%.%'")]
    phones = [p for (p,) in con.execute("SELECT phone FROM customers WHERE phone IS NOT NULL")]
    names = [n for (n,) in con.execute("SELECT last_name FROM customers WHERE length(last_name) > 6")]
    con.close()
    low = page.lower()
    assert not any(e in low for e in emails[:5000])
    assert not any(p in page for p in phones[:5000] if len(p) >= 10 and len(set(p)) > 3)
    assert not any(f">{n}<" in page for n in names[:2000])
    hashes = [h for row in list(history.wd.members("Clients VIP"))[:300] for h in row if h]
    assert hashes and not any(h in page for h in hashes)


def test_empty_store_writes_the_empty_page(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state")
    try:
        path = write_report(store, tmp_path / "r.html", now=NOW)
    finally:
        store.engine.dispose()
    page = path.read_text(encoding="utf-8")
    assert EMPTY_MESSAGE in page and "<svg" not in page and "not recorded" in page


# ------------------------------------------------------------------------------------------ browser
def chromium() -> str:
    if os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    msg = f"{CHROMIUM} is absent (install it with scripts/ensure-chromium.sh)"
    if os.environ.get("FBSYNC_REQUIRE_BROWSER_TESTS") == "1":
        pytest.fail(msg + " and FBSYNC_REQUIRE_BROWSER_TESTS=1")
    pytest.skip(msg)


def browse(tmp: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / "chromium-profile"
    profile.mkdir(exist_ok=True)
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
        url,
    ]
    env = {**os.environ, "HOME": str(tmp)}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env, cwd=tmp)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


def test_chromium_renders_every_heading_and_chart(history: History, tmp_path: Path) -> None:
    r = browse(tmp_path, history.report.as_uri(), "--dump-dom")
    dom = r.stdout
    p = Page(dom)
    assert "<title>fbsync report</title>" in dom.split("</head>")[0] and p.text["h1"] == ["fbsync report"]
    for n in ("lapsed_customers", "recent_buyers", "vip"):
        assert f"Audience {n}" in p.text["h2"]
        for kind in ("size", "sent", "drops", "match"):
            assert f'id="aud-{n}-{kind}"' in dom
    assert len(p.all("svg")) == 12 and "Runs" in p.text["h2"]
    assert Counter(a.get("class") for a in p.all("rect"))["bar-replace"] == 1


def test_chromium_screenshot_of_the_page(history: History, tmp_path: Path) -> None:
    png = tmp_path / "report.png"
    browse(tmp_path, history.report.as_uri(), f"--screenshot={png}", "--window-size=1280,2000")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 2000)
    assert len(data) > 50_000  # a blank page is a few kB; charts and tables make it far more
    if os.environ.get("FBSYNC_KEEP_REPORT_SCREENSHOT"):
        shutil.copy(png, os.environ["FBSYNC_KEEP_REPORT_SCREENSHOT"])


def test_chromium_renders_the_empty_page(tmp_path: Path) -> None:
    path = tmp_path / "empty.html"
    path.write_text(render_report([], now=NOW), encoding="utf-8")
    dom = browse(tmp_path, path.as_uri(), "--dump-dom").stdout
    assert EMPTY_MESSAGE in dom and "<svg" not in dom
