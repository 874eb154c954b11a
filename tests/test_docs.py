"""The documentation: the README stays short and points at pages that exist, and the site builds
strictly and loads nothing from another host (it must work offline)."""

import re
import subprocess
import sys
from pathlib import Path

from devtools.sitecheck import remote_assets

ROOT = Path(__file__).resolve().parents[1]
MKDOCS = Path(sys.executable).with_name("mkdocs")


def test_the_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300


def test_every_page_the_readme_links_exists():
    links = re.findall(r"\]\((docs/[^)#]+)", (ROOT / "README.md").read_text())
    assert links
    assert [link for link in links if not (ROOT / link).is_file()] == []


def test_the_site_builds_strictly_and_loads_nothing_from_another_host(tmp_path):
    site = tmp_path / "site"
    built = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert built.returncode == 0, built.stderr
    assert "Analytical-Engine-1843" in (site / "tour.html").read_text()  # the README's tour
    assert remote_assets(site) == []


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
