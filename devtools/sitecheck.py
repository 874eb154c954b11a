"""Check a built documentation site loads nothing from another host.

``python -m devtools.sitecheck site/`` lists every script, style sheet, font, image or frame that
a built page (or a style sheet) would fetch from an absolute ``http(s)://`` or protocol-relative
``//`` address, and exits 1 if there is any. Links a reader may follow (``<a href>``) are fine:
the site must render offline, not forbid mentioning other sites."""

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

REMOTE = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
CSS_REMOTE = re.compile(
    r"""(?:url\(\s*["']?|@import\s+["'])((?:https?:)?//[^"')\s]+)""", re.IGNORECASE
)
# <link rel=...> values that make the browser fetch (or connect to) the address.
FETCHING_RELS = {
    "stylesheet",
    "preload",
    "modulepreload",
    "prefetch",
    "preconnect",
    "dns-prefetch",
    "icon",
    "shortcut",
    "apple-touch-icon",
    "manifest",
}
FETCHING_ATTRS = {
    "script": ("src",),
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    "embed": ("src",),
    "object": ("data",),
}


class _AssetFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.remote: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "link" and FETCHING_RELS & set(values.get("rel", "").lower().split()):
            self._check(tag, values.get("href", ""))
        for attr in FETCHING_ATTRS.get(tag, ()):
            for candidate in values.get(attr, "").split(","):
                self._check(tag, candidate.strip().split(" ")[0])
        if "style" in values:
            self.remote += [f"<{tag} style> {url}" for url in CSS_REMOTE.findall(values["style"])]

    def handle_data(self, data: str) -> None:
        if self.lasttag == "style":
            self.remote += [f"<style> {url}" for url in CSS_REMOTE.findall(data)]

    def _check(self, tag: str, url: str) -> None:
        if REMOTE.match(url):
            self.remote.append(f"<{tag}> {url}")


def remote_assets(site: Path) -> list[str]:
    """``"page: what"`` for every asset a page or style sheet of ``site`` loads from elsewhere."""
    found = []
    for page in sorted(site.rglob("*.html")):
        finder = _AssetFinder()
        finder.feed(page.read_text(errors="replace"))
        found += [f"{page.relative_to(site)}: {what}" for what in finder.remote]
    for sheet in sorted(site.rglob("*.css")):
        urls = CSS_REMOTE.findall(sheet.read_text(errors="replace"))
        found += [f"{sheet.relative_to(site)}: {url}" for url in urls]
    return found


def main(argv: list[str]) -> int:
    site = Path(argv[0] if argv else "site")
    if not (site / "index.html").is_file():
        print(f"{site}/index.html not found: build the site first (make docs)", file=sys.stderr)
        return 2
    found = remote_assets(site)
    for line in found:
        print(f"remote asset: {line}", file=sys.stderr)
    pages = len(list(site.rglob("*.html")))
    print(f"{site}: {pages} pages, {len(found)} assets from another host")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
