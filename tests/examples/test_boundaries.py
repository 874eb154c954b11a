"""The example clients are clients: they use httpx and the standard library, never the product,
and the product never uses them."""

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

from devtools.stack import ROOT

EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
PRODUCT = [p for package in ("apps", "workers", "config") for p in (ROOT / package).rglob("*.py")]


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
    return names


def load(name: str):
    spec = importlib.util.spec_from_file_location(
        f"example_{name}", ROOT / "examples" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_example_clients():
    assert {p.name for p in EXAMPLES} >= {"book.py", "webhook_receiver.py"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_an_example_imports_only_httpx_and_the_standard_library(example):
    top_level = {name.split(".")[0] for name in imported_modules(example)}
    assert top_level - set(sys.stdlib_module_names) <= {"httpx"}


def test_the_product_never_imports_the_examples():
    importers = [
        p for p in PRODUCT if any(n.split(".")[0] == "examples" for n in imported_modules(p))
    ]
    assert importers == []


def test_retry_after_is_read_as_seconds_or_as_an_http_date():
    book = load("book")
    assert book.retry_after_seconds("3") == 3
    assert book.retry_after_seconds("Sun, 06 Nov 1994 08:49:40 GMT", now=784111770) == 10
    assert book.retry_after_seconds("Sun, 06 Nov 1994 08:49:40 GMT", now=784111790) == 0
    assert book.retry_after_seconds(None) is None
    assert book.retry_after_seconds("soon") is None


def test_polling_backs_off_up_to_a_ceiling():
    book = load("book")
    delays = [book.backoff_seconds(attempt) for attempt in range(12)]
    assert all(0 < d <= book.MAX_POLL_SECONDS for d in delays)
    assert delays[-1] >= book.MAX_POLL_SECONDS / 2 > delays[0]
