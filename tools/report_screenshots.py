"""Screenshots of a run's report.html for the README (headless Chromium, 1300 px wide).

    python tools/report_screenshots.py RUN_DIR [OUT_DIR] [SECTION]

Writes ``OUT_DIR/report_first_screen.png`` (the first 1300 x 900 px) and
``OUT_DIR/report_detail.png`` (900 px from the top of SECTION, default ``compare``: the
scenario comparison), as 256-colour PNGs. Section offsets come from the page's ``#selftest``
hook, which tests/reports/test_browser.py also uses.
"""

from __future__ import annotations

import html
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

WIDTH, HEIGHT = 1300, 900


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    sys.exit("error: no Chromium on PATH (apt-get install chromium)")


def _run(args: list[str]) -> str:
    base = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    return subprocess.run(base + args, capture_output=True, text=True, check=True).stdout


def section_top(report: Path, section: str) -> float:
    """The y offset (CSS px) of ``<section id=SECTION>`` at 1300 px wide."""
    dom = _run([f"--window-size={WIDTH},{HEIGHT}", "--dump-dom", report.as_uri() + "#selftest"])
    result = json.loads(html.unescape(re.search(r'selftest-result">(.*?)</pre>', dom).group(1)))
    tops = {s["id"]: s["top"] for s in result["sections"]}
    if section not in tops:
        sys.exit(f"error: no section {section!r} in {report}; sections: {sorted(tops)}")
    return max(0.0, tops[section] - 10)


def shoot(report: Path, out_dir: Path, section: str = "compare") -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    top = int(section_top(report, section))
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full.png"
        _run([f"--window-size={WIDTH},{top + HEIGHT}", f"--screenshot={full}", report.as_uri()])
        with Image.open(full) as image:
            crops = {
                "report_first_screen.png": image.crop((0, 0, WIDTH, HEIGHT)),
                "report_detail.png": image.crop((0, top, WIDTH, top + HEIGHT)),
            }
            paths = []
            for name, crop in crops.items():
                buffer = io.BytesIO()
                crop.convert("RGB").quantize(256).save(buffer, format="PNG", optimize=True)
                (out_dir / name).write_bytes(buffer.getvalue())
                paths.append(out_dir / name)
    return paths


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    run_dir = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("docs")
    for path in shoot(run_dir / "report.html", out, *sys.argv[3:4]):
        print(path, path.stat().st_size, "bytes")
