"""Regenerate docs/screenshots/: the README's pictures of the console, from the demo.

Run it from the repository root with the project's virtualenv (``make screenshots`` does):

    .venv/bin/python docs/screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]

What it does, start to end, touching nothing of yours:

1. a throwaway SQLite database in a temporary folder (never ``DATABASE_URL``), migrated;
2. the demo seeded into it with a fixed seed and a fixed end (``SEED_END``), so November
   2026 is a whole month with October before it and the same command gives the same
   figures on any day;
3. the development server on a free local port (``METERBOARD_MODE=dev``);
4. Chromium (through Playwright, as the browser tests drive it), signed in as the demo's
   Admin, opens each page of ``SHOTS`` at 1280 x 900 and 390 x 844, in the light and the dark
   theme (the system setting the console follows), and saves the first screen of each as
   ``<name>-<width>-<theme>.png``;
5. the server stops and the temporary folder goes; with ``pngquant`` installed the PNGs are
   cut to 256 colours (about 40 KB for a wide one instead of 130 KB).

It is not part of ``make test``: it takes about a minute and its output is pictures to look
at, not a check. Needs Chromium (``CHROMIUM_PATH`` or ``--chromium``).
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED_END = "2026-11-30T23:00:00Z"  # the demo's last hour: November whole, October before it
SEED_DAYS = "61"
PASSWORD = "meterboard-demo"  # noqa: S105 - the demo's published one (README, seed_demo)
# (file name, what the README says it shows, URL)
SHOTS = [
    ("usage-month", "Usage, November by day", "/usage/?month=2026-11&tz=UTC"),
    ("usage-day", "Usage, one day by hour", "/usage/?month=2026-11&day=2026-11-18&tz=UTC"),
    (
        "usage-hour",
        "Usage, one hour by minute",
        "/usage/?month=2026-11&day=2026-11-18&hour=15:00&tz=UTC",
    ),
    ("cost-model", "Cost, November by model", "/cost/?month=2026-11&group_by=model&tz=UTC"),
    (
        "cost-workspace",
        "Cost, November by workspace",
        "/cost/?month=2026-11&group_by=workspace&tz=UTC",
    ),
    ("members", "Members", "/accounts/members/"),
    ("prices", "Prices", "/cost/prices/"),
]
SIZES = [(1280, 900), (390, 844)]
THEMES = ["light", "dark"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(env: dict, *args: str) -> None:
    # This interpreter and this repository's manage.py, with fixed arguments.
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)  # noqa: S603


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own local server
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def shoot(base: str, out: Path, chromium: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    saved = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
        )
        for theme in THEMES:
            for width, height in SIZES:
                context = browser.new_context(
                    base_url=base,
                    viewport={"width": width, "height": height},
                    color_scheme=theme,
                )
                page = context.new_page()
                page.goto("/accounts/login/")
                page.get_by_label("Email").fill("admin@demo.test")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Log in").click()
                page.wait_for_load_state("networkidle")
                for name, _words, url in SHOTS:
                    page.goto(url)
                    page.wait_for_load_state("networkidle")
                    # Plotly draws after load: wait for every chart frame's picture.
                    page.wait_for_function(
                        "() => [...document.querySelectorAll('[data-figure]')]"
                        ".every(c => c.querySelector('svg.main-svg'))"
                    )
                    path = out / f"{name}-{width}-{theme}.png"
                    page.screenshot(path=path, animations="disabled", caret="hide")
                    saved.append(path)
                context.close()
        browser.close()
    return saved


def squeeze(paths: list[Path]) -> None:
    """256-colour PNGs with pngquant when it is installed (a third of the bytes, no visible
    change for flat console pages); the full-colour PNGs otherwise."""
    pngquant = shutil.which("pngquant")
    if not pngquant:
        print("pngquant not found (apt-get install pngquant): the PNGs stay full colour.")
        return
    subprocess.run(  # noqa: S603 - the system's pngquant on the files just written
        [pngquant, "--quality", "70-95", "--speed", "1", "--strip", "--force", "--ext", ".png"]
        + [str(p) for p in paths],
        check=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument(
        "--chromium",
        default=os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium",
    )
    options = parser.parse_args()
    if not os.path.exists(options.chromium):
        parser.error(f"Chromium not found at {options.chromium}: pass --chromium PATH.")
    options.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="meterboard-shots-") as folder:
        # No broker and no Redis: Celery runs eagerly and the cache is local memory, so
        # nothing outside the temporary folder is read or written.
        env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "REDIS_URL")}
        env.update(
            METERBOARD_MODE="dev", DEBUG="true", DATABASE_URL=f"sqlite:///{folder}/demo.sqlite3"
        )
        manage(env, "migrate", "--noinput", "--verbosity", "0")
        manage(env, "seed_demo", "--days", SEED_DAYS, "--end", SEED_END)
        port = free_port()
        server = subprocess.Popen(  # noqa: S603 - as manage() above
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(base + "/accounts/login/")
            saved = shoot(base, options.out, options.chromium)
        finally:
            server.terminate()
            server.wait(timeout=10)
    squeeze(saved)
    total = sum(p.stat().st_size for p in saved)
    print(f"{len(saved)} screenshots in {options.out} ({total // 1024} KiB).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
