"""Chinese text renders as glyphs on a machine without any system CJK font."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import PROJECT_ROOT

# Runs in a fresh interpreter whose matplotlib sees no system font at all: fontconfig reads
# an empty configuration, the font cache is new, and the folders matplotlib scans itself are
# emptied before its font manager is built (and before the Agg backend binds it).
_SCRIPT = r"""
import json, sys, warnings
from matplotlib import font_manager as fm
fm.X11FontDirectories[:] = []
fm.OSXFontDirectories[:] = []
fm.fontManager = fm.FontManager()
fm.findfont = fm.fontManager.findfont
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

names = ["北京", "上海", "广州"]
def draw():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig, ax = plt.subplots()
        ax.bar(names, [1, 2, 3])
        ax.set_title("华东地区")
        fig.canvas.draw()
        plt.close(fig)
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]

system_cjk = sorted({f.name for f in fm.fontManager.ttflist if "CJK" in f.name})
before = draw()  # matplotlib's own fonts: the control
if sys.argv[1] == "crmlib":
    from crmlib import plots
    plots.set_theme()
after = draw()
print(json.dumps({"system_cjk": system_cjk, "before": before, "after": after,
                  "font": plots.cjk_font() if sys.argv[1] == "crmlib" else None}))
"""


def _run(tmp_path, mode: str) -> dict:
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<dir>{tmp_path / 'no-fonts'}</dir><cachedir>{tmp_path / 'fc-cache'}</cachedir>"
        "</fontconfig>"
    )
    (tmp_path / "no-fonts").mkdir(exist_ok=True)
    env = {
        **os.environ,
        "FONTCONFIG_FILE": str(conf),
        "MPLCONFIGDIR": str(tmp_path / f"mpl-{mode}"),
        "MPLBACKEND": "Agg",
    }
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_chinese_names_render_without_any_system_cjk_font(tmp_path):
    result = _run(tmp_path, "crmlib")
    assert result["system_cjk"] == []  # no system CJK font is visible
    assert result["before"]  # the control: plain matplotlib draws empty boxes and warns
    assert result["after"] == []  # with the report theme, the project's own font draws them
    assert result["font"] == "Noto Sans CJK SC"


def test_bold_chinese_text_writes_nothing_to_stderr(tmp_path):
    """The packaged font is Regular only: on a machine without system CJK fonts, a bold CJK
    title must not make matplotlib log a 'Failed to find font weight' notice (it would reach
    the notebook's stderr)."""
    conf = tmp_path / "fonts.conf"
    (tmp_path / "no-fonts").mkdir()
    conf.write_text(
        f'<?xml version="1.0"?><fontconfig><dir>{tmp_path / "no-fonts"}</dir></fontconfig>'
    )
    script = (
        "from matplotlib import font_manager as fm\n"
        "fm.X11FontDirectories[:] = []\n"
        "fm.OSXFontDirectories[:] = []\n"
        "fm.fontManager = fm.FontManager()\n"
        "fm.findfont = fm.fontManager.findfont\n"
        "import matplotlib; matplotlib.use('Agg')\n"
        "import matplotlib.pyplot as plt\n"
        "from crmlib import plots\n"
        "plots.set_theme()\n"
        "fig, ax = plt.subplots(); ax.set_title('华东地区', fontweight='bold')\n"
        "fig.canvas.draw()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl"), "FONTCONFIG_FILE": str(conf)},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    assert "Failed to find font weight" not in out.stderr, out.stderr
