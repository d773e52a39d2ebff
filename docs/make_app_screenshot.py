"""Redraw docs/img/app.png: the app after the baseline has run through its crash.

Starts `surge app` on a free port, plays the baseline in Debian's headless Chromium until
the status reports month 170 or later, pauses and takes the picture. Run from the
repository root after `make test`:

    .venv/bin/python docs/make_app_screenshot.py
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent / "img" / "app.png"
MONTH = 170
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def main() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    surge = Path(sys.executable).parent / "surge"
    server = subprocess.Popen([str(surge), "app", "--port", str(port)], start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url, timeout=60_000)
            page.get_by_role("button", name="▶").click(timeout=60_000)
            page.wait_for_function(
                """n => {
                    const m = document.querySelector('.surge-status')?.innerText
                        .match(/month (\\d+)/);
                    return m && Number(m[1]) >= n;
                }""",
                arg=MONTH,
                timeout=600_000,
            )
            page.get_by_role("button", name="❚❚").click()
            time.sleep(3)  # let the step under way finish and the page redraw
            page.screenshot(path=str(OUT))
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    # A 256-colour palette keeps the picture sharp and the file small.
    Image.open(OUT).convert("RGB").quantize(colors=256).save(OUT, optimize=True)
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
