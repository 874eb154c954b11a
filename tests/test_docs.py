"""The documentation: the README stays short and points at pages that exist, and the site builds
strictly and loads nothing from another host (it must work offline)."""

import functools
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devtools.sitecheck import remote_assets

ROOT = Path(__file__).resolve().parents[1]
MKDOCS = Path(sys.executable).with_name("mkdocs")


def test_the_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300


def test_every_page_the_readme_links_exists():
    links = re.findall(r"\]\((docs/[^)#]+)", (ROOT / "README.md").read_text())
    assert links
    assert [link for link in links if not (ROOT / link).is_file()] == []


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = tmp_path_factory.mktemp("docs") / "site"
    built = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert built.returncode == 0, built.stderr
    return site


def test_the_site_builds_strictly_and_loads_nothing_from_another_host(site):
    assert "Analytical-Engine-1843" in (site / "tour.html").read_text()  # the README's tour
    assert remote_assets(site) == []


@pytest.fixture
def served(site):
    """The built site on 127.0.0.1 (search needs it served: it fetches its index)."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI_REQUIRE_SERVERS") == "1":
            pytest.fail("chromium is not installed (CI installs it: .ci/run)", pytrace=False)
        pytest.skip("chromium is not installed")
    return found


@pytest.mark.integration
def test_in_a_browser_every_page_is_reached_by_the_navigation_and_search_finds_text(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page()
        elsewhere = []
        page.on("request", lambda r: r.url.startswith(served) or elsewhere.append(r.url))
        page.goto(f"{served}/index.html")
        entries = page.eval_on_selector_all(
            "nav.md-nav--primary a.md-nav__link[href$='.html']",
            "links => links.map(a => a.getAttribute('href'))",
        )
        reached = {}
        for href in entries:
            page.goto(f"{served}/index.html")
            page.click(f"nav.md-nav--primary a.md-nav__link[href='{href}']")
            reached[href] = page.text_content("article h1")

        page.goto(f"{served}/index.html")
        page.click(".md-search__input")
        page.keyboard.type("moonshot")
        page.wait_for_selector(".md-search-result__item a", timeout=30_000)
        found = page.eval_on_selector_all(
            ".md-search-result__item a", "links => links.map(a => a.getAttribute('href'))"
        )
        browser.close()

    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert {href.replace(".html", ".md") for href in reached} == pages
    assert all(reached.values())
    assert found and all("/performance-history.html" in href for href in found)
    assert elsewhere == []


def test_the_site_check_finds_a_font_or_script_from_another_host(tmp_path):
    (tmp_path / "index.html").write_text(
        '<html><head><link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'
        '<script src="//cdn.example.org/mermaid.js"></script></head>'
        '<body><a href="https://example.org/">a link is fine</a></body></html>'
    )
    (tmp_path / "extra.css").write_text(
        '@font-face { src: url("https://fonts.gstatic.com/x.woff2") }'
    )

    assert remote_assets(tmp_path) == [
        "index.html: <link> https://fonts.googleapis.com/css?family=Roboto",
        "index.html: <script> //cdn.example.org/mermaid.js",
        "extra.css: https://fonts.gstatic.com/x.woff2",
    ]
