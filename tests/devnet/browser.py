"""A real headless browser for the report page: Debian's chromium driven by its chromedriver through
selenium (nothing is downloaded). Tests that need it skip, with the reason, where it is not installed;
.ci/run installs it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # else it tries to reach Google and fails
    "--disable-component-update",
    "--disable-sync",
)
WIDTH, HEIGHT = 1280, 900
"""A laptop's window: the page must read there without scrolling sideways."""


@contextmanager
def browser(profile: Path) -> Iterator[Any]:
    """A headless chromium with a fresh profile in ``profile``; skips the test where there is none."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("no chromium + chromedriver on this machine (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def top(driver: Any, selector: str) -> float:
    """Where the first element matching ``selector`` starts, in page pixels from the top."""
    value = driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.getBoundingClientRect().top + scrollY : null",
        selector,
    )
    assert value is not None, f"no {selector} on the page"
    return float(value)


def read_page(driver: Any, page: Path, screenshot: Path) -> dict[str, Any]:
    """Open ``page`` and measure what an operator sees; saves a full-page screenshot to ``screenshot``.
    Checks what every report page must satisfy: it reads at a laptop's width without scrolling sideways,
    every picture loaded, and no raw data (JSON, escapes, epoch seconds) shows."""
    driver.get(page.as_uri())
    facts: dict[str, Any] = driver.execute_script(
        """
        const text = (s) => [...document.querySelectorAll(s)].map(e => e.innerText.trim());
        return {
          title: document.title,
          h1: text('h1')[0] || '',
          lead: text('.lead')[0] || '',
          notes: text('.notes li'),
          headings: text('h2'),
          figures: text('.figure .label'),
          pictures: [...document.images].map(i => [i.complete, i.naturalWidth, i.getBoundingClientRect().width]),
          overflow: document.documentElement.scrollWidth - innerWidth,
          body: document.body.innerText,
          height: document.documentElement.scrollHeight,
        }"""
    )
    assert facts["overflow"] <= 0, f"the page scrolls sideways by {facts['overflow']} px at {WIDTH} px"
    for complete, natural, shown in facts["pictures"]:
        assert complete and natural > 0, "a picture did not load"
        assert shown <= WIDTH
    body = facts["body"]
    for raw in ('{"', "\\u", "None", "[]"):
        assert raw not in body, f"raw data on the page: {raw!r}"
    assert not any(word.isdigit() and len(word) == 10 for word in body.split()), "epoch seconds on the page"
    driver.set_window_size(WIDTH, min(int(facts["height"]) + 100, 16000))
    driver.save_screenshot(str(screenshot))
    driver.set_window_size(WIDTH, HEIGHT)
    return facts
