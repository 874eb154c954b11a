"""Swagger UI and ReDoc load their assets from the app itself, never from another host."""

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
SCRIPT_URL = re.compile(r"""["']((?:https?:)?//[^"']+|/static/[^"']+)["']""")


def asset_urls(html: str) -> set[str]:
    return set(ASSET.findall(html)) | set(SCRIPT_URL.findall(html))


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_the_docs_page_references_no_other_host(path):
    page = Client().get(path)

    assert page.status_code == 200
    html = page.content.decode()
    urls = asset_urls(html)
    assert any(u.startswith("/static/") for u in urls), urls
    assert not [u for u in urls if u.startswith(("http:", "https:", "//"))]
    assert "@latest" not in html and "cdn.jsdelivr" not in html


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_every_asset_of_the_docs_page_is_served(path):
    client = Client()
    html = client.get(path).content.decode()
    static = [u for u in asset_urls(html) if u.startswith("/static/")]

    assert static
    for url in static:
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"".join(response.streaming_content if response.streaming else [response.content])
