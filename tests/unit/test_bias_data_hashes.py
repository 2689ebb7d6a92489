"""The bias data sets are pinned (issue 26, item 7c): each public address names a commit, each file has a known
SHA-256 that pooch checks; a file that differs is refused with the reason. No network: a 127.0.0.1 server."""

from __future__ import annotations

import functools
import hashlib
import http.server
import re
import threading

import pytest

from plm_core.bias import datasets
from plm_core.errors import InvalidInputError

COMMIT = re.compile(r"/[0-9a-f]{40}/")


def _every_public_file() -> list[str]:
    return [*datasets.SOURCES, *(f"seat/{name}.jsonl" for name in datasets.SEAT_TESTS)]


def test_every_public_file_is_pinned_to_a_commit_and_a_hash(monkeypatch):
    monkeypatch.delenv(datasets.URL_ENV, raising=False)
    for relative in _every_public_file():
        url = datasets.source_url(relative)
        assert COMMIT.search(url) and "/master/" not in url, url
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", datasets.pinned_hash(relative)), relative
    assert set(datasets.KNOWN_HASHES) == set(_every_public_file())


@pytest.mark.parametrize("relative", _every_public_file())
def test_the_shared_copy_has_the_pinned_hash(shared_data, relative):
    digest = hashlib.sha256((shared_data / relative).read_bytes()).hexdigest()
    assert datasets.KNOWN_HASHES[relative] == f"sha256:{digest}"


@pytest.fixture
def serve(tmp_path):
    """Serve a folder from 127.0.0.1; yields (folder, base url)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _seat_file(root, text: str) -> str:
    relative = "seat/weat7.jsonl"
    (root / "seat").mkdir(exist_ok=True)
    (root / relative).write_text(text)
    return relative


def test_a_tampered_download_is_refused_with_the_reason(serve, tmp_path):
    root, base = serve
    relative = _seat_file(root, '{"targ1": {"category": "X", "examples": ["tampered"]}}')
    cache = tmp_path / "cache"
    with pytest.raises(InvalidInputError, match=r"is not the pinned file \(.*hash.*\); it was not kept"):
        datasets.fetch(relative, base_url=base, cache=cache, known_hash=datasets.KNOWN_HASHES[relative])
    assert not (cache / relative).exists()


def test_a_download_with_the_pinned_hash_is_kept_and_a_tampered_cache_is_replaced(serve, tmp_path):
    root, base = serve
    text = '{"targ1": {"category": "X", "examples": ["a"]}}'
    relative = _seat_file(root, text)
    known = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    cache = tmp_path / "cache"
    assert datasets.fetch(relative, base_url=base, cache=cache, known_hash=known).read_text() == text
    (cache / relative).write_text("changed on disk")  # pooch checks the cached copy too, and downloads it again
    assert datasets.fetch(relative, base_url=base, cache=cache, known_hash=known).read_text() == text


def test_another_address_is_its_owners_source_not_the_pinned_file(monkeypatch):
    monkeypatch.delenv(datasets.URL_ENV, raising=False)
    assert datasets.pinned_hash("seat/weat7.jsonl", "http://127.0.0.1:1/") is None
    monkeypatch.setenv(datasets.URL_ENV, "http://mirror.example/")
    assert datasets.pinned_hash("seat/weat7.jsonl") is None
