"""The docs site as a reader gets it: `mkdocs build --strict` passes, and
fails on a broken link or a page outside the navigation; the built site,
opened from the file system in a real browser (Debian's headless Chromium,
driven by Playwright), renders its home page, its navigation reaches every
section, and its search, with no server and no network, finds a task."""

import os
import shutil
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Page, sync_playwright

from envkit.core.errors import KitError, UsageError
from envkit.docs import site as site_module
from envkit.docs.site import CONFIG, DOCS, build_site

# Debian's chromium package: the browser itself, not /usr/bin/chromium, a shell wrapper that adds flags.
BROWSERS = (Path("/usr/lib/chromium/chromium"), Path("/usr/bin/chromium"))
SECTIONS = ("Getting started", "Guides", "Reference", "Design", "Contributing")


def chromium() -> Path:
    found = next((path for path in BROWSERS if path.exists()), None)
    if found is None:
        pytest.fail("Chromium is missing: `bash .ci/setup` installs Debian's chromium package")
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = tmp_path_factory.mktemp("docs") / "site"
    build_site(site)
    return site


@pytest.fixture
def page(site):
    with sync_playwright() as playwright:
        # As root (CI's containers), Chromium's sandbox cannot start: it is the browser's, not the test's.
        arguments = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = playwright.chromium.launch(executable_path=str(chromium()), args=arguments)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 900})
        finally:
            browser.close()


def first_pages() -> dict[str, str]:
    """Each section of the navigation, and the file of its first page."""
    nav = yaml.safe_load(CONFIG.read_text())["nav"]
    sections = [(name, pages) for entry in nav for name, pages in entry.items() if isinstance(pages, list)]
    return {name: next(iter(pages[0].values())) for name, pages in sections}


def heading(page: Page) -> str:
    return page.locator("article h1").inner_text().rstrip("¶")  # less the heading's permalink


def test_the_site_builds_strict_and_every_section_is_in_the_navigation(site):
    assert (site / "index.html").is_file() and (site / "reference" / "tasks.html").is_file()
    assert tuple(first_pages()) == SECTIONS


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda docs: (docs / "index.md").write_text("# Home\n\n[the tasks](reference/nowhere.md)\n"), "nowhere.md"),
        (lambda docs: (docs / "guides" / "orphan.md").write_text("# Not in the navigation\n"), "orphan.md"),
    ],
    ids=["a-broken-link", "a-page-outside-the-navigation"],
)
def test_the_strict_build_fails_and_names_the_page(tmp_path, change, named):
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(CONFIG, tmp_path / "mkdocs.yml")
    change(tmp_path / "docs")
    with pytest.raises(KitError, match="`mkdocs build --strict` failed") as failed:
        build_site(tmp_path / "site", config=tmp_path / "mkdocs.yml")
    assert named in str(failed.value)
    assert not (tmp_path / "site").exists()  # nothing half-built left where the site goes


def open_home(page: Page, site: Path) -> None:
    page.goto((site / "index.html").as_uri())
    page.wait_for_selector("h1")


def test_the_home_page_renders_in_a_real_browser(page, site, tmp_path):
    open_home(page, site)
    assert page.title().startswith("torch-envkit")
    assert heading(page) == "torch-envkit"
    assert page.locator("article pre").count() >= 2  # the two quick starts' commands
    shot = tmp_path / "home.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_navigation_reaches_every_section(page, site):
    open_home(page, site)
    for section, first in first_pages().items():
        open_home(page, site)
        page.locator(".md-tabs__link", has_text=section).click()
        page.wait_for_load_state()
        assert page.url == (site / first).with_suffix(".html").as_uri(), section
        assert heading(page) and page.locator(".md-tabs__item--active").inner_text().strip() == section


def test_search_finds_a_task_by_name_offline(page, site):
    open_home(page, site)
    page.locator("input.md-search__input").click()
    page.keyboard.type("verify-repro", delay=20)  # as a reader types: search answers key presses
    page.locator(".md-search-result__item").first.wait_for(timeout=15_000)
    links = page.locator(".md-search-result a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    task = next((link for link in links if "reference/tasks.html" in link and "#invoke-verify-repro" in link), None)
    assert task, links
    page.goto(task)
    assert page.locator("h2#invoke-verify-repro").is_visible()


def test_without_the_search_shim_nothing_is_built_and_the_fix_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(site_module, "SHIM", tmp_path / "node_modules" / "iframe-worker" / "shim" / "index.js")
    with pytest.raises(UsageError, match=r"is missing \(the site's offline search needs it\): run `bash .ci/setup`"):
        build_site(tmp_path / "site")
    assert list(tmp_path.iterdir()) == []  # no site, no scratch folder
