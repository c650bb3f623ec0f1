"""A phone's browser for the network lab: Debian's headless Chromium, driven by Playwright.

``python -m tests.support.browser URL [--download NAME] [--upload PATH]`` opens URL,
then clicks the link NAME and keeps what it downloads, then sends PATH through
the page's upload form, as a person would. It prints one JSON object per step:

* ``{"type": "page", "status": 200, "text": ..., "error": ""}``: what the page
  shows (``status`` is null and ``error`` says why when nothing answered);
* ``{"type": "download", "name": ..., "sha256": ...}``;
* ``{"type": "upload", "state": ...}``: the upload's last words on the page
  (done, declined (...), failed (...)).

Chromium runs with a fresh profile and the switches that keep it from calling
home, so the lab sees only the share's traffic; it never downloads a browser.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import tempfile
from pathlib import Path

from playwright.async_api import Error, Page, async_playwright, expect

CHROMIUM = "/usr/bin/chromium"
SWITCHES = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FINAL = re.compile(r"^(done|declined|failed)")


def say(**step: object) -> None:
    print(json.dumps(step, ensure_ascii=False), flush=True)


async def download(page: Page, name: str) -> None:
    async with page.expect_download() as info:
        await page.get_by_role("link", name=name).click()
    got = await info.value
    path = await got.path()
    say(
        type="download",
        name=got.suggested_filename,
        sha256=hashlib.sha256(Path(path).read_bytes()).hexdigest(),
    )


async def upload(page: Page, path: str) -> None:
    await page.set_input_files("#files", path)
    await page.click("#send")
    state = page.locator("#uploads .state")
    # Watched from Playwright's side: the page's CSP rightly forbids evaluating strings in it.
    await expect(state).to_have_text(FINAL, timeout=40_000)
    say(type="upload", state=await state.inner_text())


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=SWITCHES,
                accept_downloads=True,
            )
            try:
                page = await browser.new_page()
                try:
                    response = await page.goto(args.url, timeout=20_000)
                except Error as exc:
                    say(type="page", status=None, text="", error=exc.message.splitlines()[0])
                    return
                status = response.status if response else None
                say(type="page", status=status, text=await page.inner_text("body"), error="")
                if args.download:
                    await download(page, args.download)
                if args.upload:
                    await upload(page, args.upload)
            finally:
                await browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--download", metavar="NAME")
    parser.add_argument("--upload", metavar="PATH")
    asyncio.run(main(parser.parse_args()))
