"""Text from data has a bounded size in figures and tables, whatever the data holds.

A 50,000-character region name once drew a 500,753-pixel-wide PNG into a report, and 200,000
characters took 53 s and 3.3 GB for one figure. Labels are now cut by
:func:`crmlib.plots.short_label` and table cells by :func:`crmlib.tables.style_table`, with
limits chosen so the bundled sample (and so the stored notebook outputs) is untouched.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from PIL import Image

from crmlib import plots
from crmlib.tables import style_table
from tests.conftest import PROJECT_ROOT

SAMPLE = PROJECT_ROOT / "data" / "sample"
LONG_50K = "Region " + "x" * 49_993
LONG_200K = "Channel " + "y" * 199_992
LONG_CJK = "上海市" * 66_667  # 200,001 characters, drawn with the CJK font
MAX_PX = 2_000  # a report figure is 900 x 400 px; its labels may add to that, boundedly

# without a CJK font (the project's setup installs one) CJK glyphs are drawn as boxes
pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")


@pytest.fixture(autouse=True)
def _theme() -> Iterator[None]:
    """The reports' theme (CJK fonts, DPI), undone after each test; figures closed."""
    with plt.rc_context():
        plots.set_theme()
        yield
    plt.close("all")


def _png_size(fig: plt.Figure) -> tuple[int, int]:
    """Width and height of ``fig`` saved as the reports save it (inline PNG, tight bbox)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", dpi=plots.DPI, metadata={"Software": None})
    buf.seek(0)
    with Image.open(buf) as img:
        return img.size


def _texts(fig: plt.Figure) -> list[str]:
    """Every text the figure draws (tick labels, legend entries, titles, annotations)."""
    fig.canvas.draw()  # tick labels are made at draw time
    return [t.get_text() for t in fig.findobj(plt.Text)]


def _categories() -> list[str]:
    return ["London", LONG_50K, LONG_200K, LONG_CJK]


def _bar(horizontal: bool) -> Callable[[], plt.Figure]:
    def draw() -> plt.Figure:
        df = pd.DataFrame({"region": _categories(), "customers": [5, 3, 2, 1]})
        kwargs = {"title": "Customers by region", "xlabel": "Region", "ylabel": "Customers"}
        return plots.plot_bar(df, "region", "customers", horizontal=horizontal, **kwargs).figure

    return draw


def _bar_hue() -> plt.Figure:
    df = pd.DataFrame(
        {
            "age": ["0-7", "0-7", "8-30", "8-30"],
            "priority": [LONG_50K, LONG_200K, LONG_50K, LONG_200K],
            "tickets": [1, 2, 3, 4],
        }
    )
    kwargs = {"title": "Open tickets", "xlabel": "Age", "ylabel": "Tickets"}
    return plots.plot_bar(df, "age", "tickets", hue="priority", **kwargs).figure


def _channel_mix() -> plt.Figure:
    mix = pd.DataFrame(
        {
            "channel": _categories(),
            "direction": ["inbound", LONG_200K, "inbound", "outbound"],
            "communications": [40, 30, 20, 10],
            "share": [0.4, 0.3, 0.2, 0.1],
        }
    )
    return plots.plot_channel_mix(mix, title="Channel mix").figure


def _rates() -> plt.Figure:
    df = pd.DataFrame(
        {
            "segment": _categories(),
            "rate": [0.5, 0.4, 0.3, 0.2],
            "rate_low": [0.4, 0.3, 0.2, 0.1],
            "rate_high": [0.6, 0.5, 0.4, 0.3],
            "n": [10, 20, 30, 40],
        }
    )
    kwargs = {"n": "n", "title": "Contacted", "xlabel": "Share", "ylabel": "Segment"}
    return plots.plot_rates(df, "segment", "rate", **kwargs).figure


def _stacked() -> plt.Figure:
    months = pd.to_datetime(["2025-01-01", "2025-02-01"])
    df = pd.DataFrame(
        [{"month": m, "category": c, "tickets": 3} for m in months for c in _categories()]
    )
    return plots.plot_stacked_monthly(
        df, "month", "tickets", "category", title="Tickets", ylabel="Tickets"
    ).figure


def _category_index() -> plt.Figure:
    mix = pd.DataFrame(
        [
            {"segment": s, "category": c, "index": 100.0 + i, "revenue": 10.0 + i}
            for i, (s, c) in enumerate(
                (s, c) for s in ("Loyal", LONG_50K) for c in ("books", LONG_200K, LONG_CJK)
            )
        ]
    )
    return plots.plot_category_index(mix, title="Category index").figure


def _service_rates() -> plt.Figure:
    df = pd.DataFrame(
        {
            "channel": ["phone", LONG_200K, "phone", LONG_200K],
            "metric": ["response", "response", LONG_50K, LONG_50K],
            "csat": [0.8, 0.7, 0.6, 0.5],
            "csat_low": [0.7, 0.6, 0.5, 0.4],
            "csat_high": [0.9, 0.8, 0.7, 0.6],
        }
    )
    kwargs = {"title": "CSAT", "xlabel": "Channel", "ylabel": "Rated 4-5"}
    return plots.plot_service_rates(df, "channel", "csat", hue="metric", **kwargs).figure


def _channel_comparison() -> plt.Figure:
    channels = pd.DataFrame(
        {
            "channel": ["email", LONG_200K, "all"],
            "conversion_rate": [0.1, 0.2, 0.15],
            "conversion_rate_low": [0.05, 0.1, 0.1],
            "conversion_rate_high": [0.15, 0.3, 0.2],
            "rate_denominator": ["delivered"] * 3,
            "roas": [2.0, float("nan"), 1.5],
            "incremental_roas": [1.0, 0.5, 0.8],
        }
    )
    return plots.plot_channel_comparison(channels, title=LONG_50K)


FIGURES = {
    "plot_bar": _bar(horizontal=False),
    "plot_bar horizontal": _bar(horizontal=True),
    "plot_bar hue": _bar_hue,
    "plot_channel_mix": _channel_mix,
    "plot_rates": _rates,
    "plot_stacked_monthly": _stacked,
    "plot_category_index": _category_index,
    "plot_service_rates": _service_rates,
    "plot_channel_comparison": _channel_comparison,
}


@pytest.mark.parametrize("draw", FIGURES.values(), ids=FIGURES.keys())
def test_figure_size_does_not_depend_on_label_length(draw):
    fig = draw()
    texts = _texts(fig)
    # checked before saving: with unbounded labels the PNG alone takes minutes and GBs
    assert max(len(line) for t in texts for line in t.split("\n")) <= plots.TITLE_MAX_CHARS
    assert any("…" in t for t in texts)  # a cut label is drawn
    width, height = _png_size(fig)
    assert width < MAX_PX and height < MAX_PX, (width, height)


def test_long_labels_with_a_common_prefix_stay_distinct():
    prefix = "Promotion spring 2025, " + "p" * 77
    assert len(prefix) == 100
    a, b = prefix + "north" * 100, prefix + "south" * 100
    short_a, short_b = plots.short_label(a), plots.short_label(b)
    assert short_a != short_b
    for label in (short_a, short_b):
        assert len(label) <= plots.LABEL_MAX_CHARS and "…" in label
        assert label.startswith(prefix[:30])
    assert plots.short_label(a) == short_a  # the same text, the same label (stable)
    # drawn: seaborn groups by label, so two long categories stay two bars
    df = pd.DataFrame({"campaign": [a, b], "contacts": [1, 2]})
    kwargs = {"title": "Contacts", "xlabel": "Campaign", "ylabel": "Contacts"}
    ax = plots.plot_bar(df, "campaign", "contacts", **kwargs)
    ax.figure.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert sorted(ticks) == sorted([short_a, short_b])
    assert sorted(p.get_height() for p in ax.patches if p.get_height()) == [1, 2]
    # a short label spelled like a cut one is not merged with it
    ax = plots.plot_bar(
        pd.DataFrame({"campaign": [a, short_a], "contacts": [1, 2]}),
        "campaign",
        "contacts",
        **kwargs,
    )
    ax.figure.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert len(set(ticks)) == 2 and short_a in ticks


def test_short_label_keeps_cjk_and_bounds_lines():
    cut = plots.short_label(LONG_CJK)
    assert len(cut) == plots.LABEL_MAX_CHARS and cut.startswith("上海市上海市")
    assert plots.short_label("上海") == "上海"
    many = plots.short_label("\n".join(["line"] * 10_000))
    assert many.count("\n") < plots.LABEL_MAX_LINES
    with pytest.raises(ValueError):
        plots.short_label("x", 3)


def test_long_cell_is_cut_with_an_escaped_tooltip():
    long = "<script>alert('x')</script> " + "z" * 200_000
    df = pd.DataFrame({"campaign": ["K1", "K2"], "name": ["Spring <b>sale</b>", long]})
    page = style_table(df, caption="Campaigns").data
    assert len(page.encode()) < 10_000
    assert "<script>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page  # shown and in the title
    assert page.count("&lt;script&gt;") == 2
    assert "title='&lt;script&gt;" in page and "…</span></td>" in page
    assert "Spring &lt;b&gt;sale&lt;/b&gt;</td>" in page  # a short cell is as before
    # a long header (a pivoted data value) is bounded too
    wide = pd.DataFrame({long: [1]})
    assert len(style_table(wide).data.encode()) < 10_000


def test_short_labels_and_cells_of_the_sample_are_unchanged():
    values = set()
    for path in sorted(SAMPLE.glob("*.csv")):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        values |= {v for c in df.columns for v in df[c].unique()}
        html = style_table(df).data
        assert "title=" not in html and "…" not in html, path.name
    assert values
    for v in values | {"上海", "Big-ticket buyers 2", "K0014 · Promotion direct mail 2024-…"}:
        assert plots.short_label(v).encode() == v.encode()
    # drawn as given: the sample's regions are the tick labels, byte for byte
    customers = pd.read_csv(SAMPLE / "customers.csv", dtype=str)
    regions = customers.region.dropna().value_counts().rename_axis("region").reset_index()
    kwargs = {"title": "Customers by region", "xlabel": "Customers", "ylabel": "Region"}
    ax = plots.plot_bar(regions, "region", "count", horizontal=True, **kwargs)
    ax.figure.canvas.draw()
    assert [t.get_text() for t in ax.get_yticklabels()] == list(regions.region)


def test_plain_numeric_axes_get_thousands_separators():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from crmlib import plots

    monthly = pd.DataFrame(
        {
            "month": pd.to_datetime(["2026-01-01", "2026-02-01"]),
            "revenue": [400000.0, 250000.0],
            "channel": ["web", "web"],
        }
    )
    ax = plots.plot_stacked_monthly(
        monthly, "month", "revenue", "channel", title="t", ylabel="revenue"
    )
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert any("," in t for t in labels) and not any("e" in t.lower() for t in labels), labels
    plt.close("all")
