"""The rendered sample in headless Chromium: every report and the index load cleanly.

Per page: no console error, no failed request and no request leaving the page (only file:
and data: URLs), every image decoded, every contents link lands on its heading, and a
full-page screenshot kept in tests/artifacts/ (the paths are printed).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def _open(browser, path: Path, width: int = 1280):
    """Open ``path`` in a new page; return (page, problems), problems filled as it loads."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url}"))

    def only_local(route):
        url = route.request.url
        if url.startswith(("file:", "data:", "about:")):
            route.continue_()
        else:
            problems.append(f"request leaving the page: {url}")
            route.abort()

    page.route("**/*", only_local)
    page.goto(path.as_uri(), wait_until="load")
    return page, problems


def _images(page) -> list[dict]:
    return page.eval_on_selector_all(
        "img",
        "els => els.map(e => ({src: e.src.slice(0, 40), complete: e.complete, "
        "width: e.naturalWidth}))",
    )


def _screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def _check_toc(page) -> int:
    """Click every contents link; each must land on an element with that id, in view."""
    hrefs = page.eval_on_selector_all(
        "nav.crm-toc a", "els => els.map(e => e.getAttribute('href'))"
    )
    for i, href in enumerate(hrefs):
        assert href.startswith("#"), href
        target = page.evaluate(
            "h => { const e = document.getElementById(decodeURIComponent(h.slice(1)));"
            " return e ? e.tagName : null }",
            href,
        )
        assert target in ("H1", "H2", "H3"), f"contents link {href} lands on {target}"
        page.locator("nav.crm-toc a").nth(i).click()
        top = page.evaluate(
            "h => document.getElementById(decodeURIComponent(h.slice(1)))"
            ".getBoundingClientRect().top",
            href,
        )
        assert -2 <= top < page.viewport_size["height"], f"{href} not scrolled into view ({top})"
    return len(hrefs)


def test_every_report_loads_cleanly(browser, sample_render):
    result, out = sample_render
    folder = out / result.as_of
    status = {n.name: n.status for n in result.notebooks}
    assert status, "the render produced no report"
    for name, state in sorted(status.items()):
        page, problems = _open(browser, folder / f"{name}.html")
        images = _images(page)
        links = _check_toc(page)
        _screenshot(page, f"report-{result.as_of}-{name}")
        page.context.close()
        assert not problems, f"{name}: {problems}"
        assert all(i["complete"] and i["width"] > 0 for i in images), f"{name}: {images}"
        if state == "ok":
            assert images, f"{name}: an executed report without a single figure"
            assert links >= 2, f"{name}: contents with {links} link(s)"
        print(f"{name} ({state}): {len(images)} image(s), {links} contents link(s) checked")


def test_nothing_overflows_a_phone_screen(browser, sample_render):
    """At 390 px (a phone), neither the index nor any report is wider than the screen: wide
    tables and figures scroll inside their own box, the page itself never sideways; figures
    keep a legible width (their text is not shrunk below about half its size)."""
    result, out = sample_render
    pages = [out / "index.html", *sorted((out / result.as_of).glob("*.html"))]
    for path in pages:
        page, problems = _open(browser, path, width=390)
        width = page.evaluate("document.documentElement.scrollWidth")
        inner = page.evaluate("window.innerWidth")
        shown = page.eval_on_selector_all(
            ".output_png img", "els => els.map(e => e.getBoundingClientRect().width)"
        )
        _screenshot(page, f"phone-{path.stem}")
        page.context.close()
        assert not problems, f"{path.name}: {problems}"
        assert width <= inner, f"{path.name} is {width} px wide on a {inner} px screen"
        assert all(w >= 600 for w in shown), f"{path.name}: figures shrunk to {shown}"


def test_printing_gives_a_clean_document(browser, sample_render):
    """Print (Save as PDF) of each report: the contents are printed, nothing is wider than
    the paper, and the PDF is kept beside the screenshots."""
    result, out = sample_render
    for path in sorted((out / result.as_of).glob("*.html")):
        page, problems = _open(browser, path, width=720)  # A4 less margins, at 96 dpi
        page.emulate_media(media="print")
        toc = page.eval_on_selector("nav.crm-toc", "e => getComputedStyle(e).display")
        paper = page.evaluate("document.documentElement.clientWidth")
        widest = page.evaluate(
            "Math.max(...[...document.querySelectorAll('table.crm-table')]"
            ".map(t => t.getBoundingClientRect().width), 0)"
        )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        pdf = ARTIFACTS / f"print-{path.stem}.pdf"
        page.pdf(path=str(pdf), format="A4", print_background=True)
        print(f"printed: {pdf}")
        page.context.close()
        assert not problems, f"{path.name}: {problems}"
        assert toc != "none", f"{path.name}: the contents are not printed"
        assert widest <= paper, f"{path.name}: a table {widest} px wide on {paper} px of paper"


def test_key_tables_fit_a_desktop_screen(browser, sample_render):
    """At 1400 px no table of any report scrolls sideways: the columns carrying the
    conclusion come first and the columns behind it open on request ("Show N more
    columns"); the print emulation of each report is kept as a picture too."""
    result, out = sample_render
    (ARTIFACTS / "desktop1400").mkdir(parents=True, exist_ok=True)
    for path in sorted((out / result.as_of).glob("*.html")):
        page, problems = _open(browser, path, width=1400)
        scrolling = page.evaluate(
            "[...document.querySelectorAll('table.crm-table')]"
            ".filter(t => t.scrollWidth > t.clientWidth + 1)"
            ".map(t => (t.caption ? t.caption.textContent : '').slice(0, 60))"
        )
        page.screenshot(path=str(ARTIFACTS / "desktop1400" / f"{path.stem}.png"), full_page=True)
        page.emulate_media(media="print")
        page.screenshot(path=str(ARTIFACTS / f"print-{path.stem}.png"), full_page=True)
        print(f"screenshots: desktop1400/{path.stem}.png, print-{path.stem}.png")
        page.context.close()
        assert not problems, f"{path.name}: {problems}"
        assert not scrolling, f"{path.name}: tables scrolling sideways at 1400 px: {scrolling}"


def test_tables_sort_and_collapse_without_a_network(browser, sample_render):
    """The page's own script: a long table shows its first rows and opens on request; a
    click on a header sorts by the number behind each cell (not its text), missing values
    last; the detail columns open on request."""
    result, out = sample_render
    page, problems = _open(browser, out / result.as_of / "03_cmm.html", width=1400)
    table = page.locator("table.crm-table[data-rows]").first
    total = int(table.get_attribute("data-rows"))
    visible = "t => [...t.tBodies[0].rows].filter(r => r.offsetParent !== null).length"
    assert table.evaluate(visible) == int(table.get_attribute("data-show")) < total
    page.locator("button.crm-open:not(.crm-columns)").first.click()
    assert table.evaluate(visible) == total
    headers = table.locator("thead th")
    names = headers.all_inner_texts()
    col = next(i for i, h in enumerate(names) if h.startswith("expected incremental"))
    keys = (
        "(t, c) => [...t.tBodies[0].rows].map(r => r.cells[c].getAttribute('data-v'))"
        ".map(v => v === null ? null : parseFloat(v))"
    )
    before = table.evaluate(keys, col)
    buttons = page.locator("button.crm-open").count()
    headers.nth(col).locator("button").click()
    assert page.locator("button.crm-open").count() == buttons  # sorting adds nothing
    ascending = table.evaluate(keys, col)
    numbers = [v for v in before if v is not None]
    assert ascending[: len(numbers)] == sorted(numbers)
    assert ascending[len(numbers) :] == [None] * (len(before) - len(numbers))
    headers.nth(col).locator("button").click()
    assert table.evaluate(keys, col)[: len(numbers)] == sorted(numbers, reverse=True)
    detail = table.locator("th.crm-detail").first
    assert not detail.is_visible()
    page.locator("button.crm-columns").nth(1).click()  # the league table's own button
    assert detail.is_visible()
    page.context.close()
    assert not problems, problems


def test_the_page_runs_no_other_script(browser, sample_render, tmp_path):
    """Whatever a page came to hold, its Content-Security-Policy lets only the package's
    own script run: an inline script and an event handler slipped into a copy are refused."""
    result, out = sample_render
    text = (out / result.as_of / "04_csm.html").read_text(encoding="utf-8")
    hostile = (
        "<script>document.title = 'ran'</script>"
        "<img src='data:,' onerror=\"document.title = 'ran too'\">"
    )
    copy = tmp_path / "copy.html"
    copy.write_text(text.replace("</main>", hostile + "</main>"), encoding="utf-8")
    page, problems = _open(browser, copy, width=1400)
    title = page.title()
    sortable = page.locator("button.crm-sort").count()
    page.context.close()
    assert "ran" not in title
    assert sortable > 0, "the page's own script did not run"
    assert any("Content Security Policy" in p for p in problems), problems


def test_index_loads_cleanly_and_links_every_report(browser, sample_render):
    result, out = sample_render
    page, problems = _open(browser, out / "index.html")
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    sparklines = page.locator("svg[role=img]").count()
    _screenshot(page, "index")
    text = page.inner_text("body")
    page.context.close()
    assert not problems, problems
    for r in result.notebooks:
        assert f"{result.as_of}/{r.name}.html" in hrefs, r.name
    for href in hrefs:  # every link resolves: an anchor on the page or a file beside it
        if not href.startswith("#"):
            assert (out / href).exists(), href
    kpis = json.loads((out / result.as_of / "kpis.json").read_text())
    numeric = sum(
        1
        for values in kpis.values()
        for v in values.values()
        if isinstance(v, int | float) and not isinstance(v, bool)
    )
    assert sparklines >= numeric > 0  # one line per numeric KPI (None values have none)
    for r in result.notebooks:
        if r.status == "failed":
            assert "✗ Failed" in text
        if r.status == "skipped":
            assert "– Skipped" in text


def test_index_with_history_shows_changes_and_trends(browser, sample_render, tmp_path):
    """The index over three runs: arrows, signed changes and sparklines render cleanly.

    The two earlier runs are synthetic (the sample's KPIs scaled by 0.8 and 1.1, a copy of
    its reports), so one render is enough to see the index as it looks after months.
    """
    import shutil

    from crmlib.report import build_index

    result, out = sample_render
    history = tmp_path / "reports"
    shutil.copytree(out / result.as_of, history / result.as_of)
    kpis = json.loads((history / result.as_of / "kpis.json").read_text())
    for day, factor in (("2000-01-31", 0.8), ("2000-02-29", 1.1)):
        shutil.copytree(out / result.as_of, history / day)
        scaled = {
            nb: {k: round(v * factor, 6) if isinstance(v, float) else v for k, v in values.items()}
            for nb, values in kpis.items()
        }
        (history / day / "kpis.json").write_text(json.dumps(scaled))
    page, problems = _open(browser, build_index(history))
    arrows = page.locator("td.up, td.down").count()
    lines = page.locator("svg[role=img] polyline").count()
    _screenshot(page, "index-with-history")
    page.context.close()
    assert not problems, problems
    floats = sum(isinstance(v, float) for values in kpis.values() for v in values.values())
    assert arrows >= floats > 0  # every float KPI moved in the two newer runs
    assert lines >= floats


def test_chinese_text_renders_as_glyphs_in_the_page(browser, sample_render):
    """The report's font stack draws Chinese with real glyphs in Chromium, not tofu boxes.

    Every missing character is drawn as the same box, so two different characters drawn
    with the report's font must differ, and both must have ink.
    """
    result, out = sample_render
    page, problems = _open(browser, out / result.as_of / f"{result.notebooks[0].name}.html")
    ink = page.evaluate(
        """() => {
          const font = getComputedStyle(document.body).fontFamily;
          const draw = ch => {
            const c = document.createElement('canvas'); c.width = 64; c.height = 64;
            const g = c.getContext('2d'); g.fillStyle = '#fff'; g.fillRect(0, 0, 64, 64);
            g.fillStyle = '#000'; g.font = '48px ' + font; g.fillText(ch, 4, 52);
            return Array.from(g.getImageData(0, 0, 64, 64).data.filter((_, i) => i % 4 == 0))
              .map(v => v < 128 ? 1 : 0);
          };
          const a = draw('上'), b = draw('海');
          return {a: a.reduce((s, v) => s + v, 0), b: b.reduce((s, v) => s + v, 0),
                  differ: a.reduce((s, v, i) => s + (v != b[i] ? 1 : 0), 0), font};
        }"""
    )
    page.context.close()
    assert not problems, problems
    assert "Noto Sans CJK SC" in ink["font"]
    assert ink["a"] > 50 and ink["b"] > 50 and ink["differ"] > 50, ink
