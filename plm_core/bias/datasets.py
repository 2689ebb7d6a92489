"""Loaders for CrowS-Pairs, BEC-Pro and SEAT: from a local path, or downloaded once from the public source
into a local cache (``PLM_CACHE`` or ~/.cache/plm-lens). Nothing is bundled with plm-lens.

Every loader gives a clear :class:`InvalidInputError` for a missing/empty/oversized file or wrong columns.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pooch

from plm_core.settings import settings
from plm_core.errors import InvalidInputError
from plm_core.i18n import msg

MAX_FILE_BYTES = 50 * 1024 * 1024  # the real files are 0.4-1.4 MB; refuse anything this big
URL_ENV = "PLM_BIAS_DATA_URL"  # replaces every public base below (tests: a 127.0.0.1 server)
CACHE_ENV = "PLM_CACHE"

# Each public file is pinned to a commit of its repository and to its SHA-256 (pooch checks it after every
# download and on every cached copy it reuses). The hashes are those of the copies under ../shared/data, whose
# git blob ids equal the files' at these commits (checked against the repositories, December 2026).
CROWS_COMMIT = "8aaac11c485473159ec9328a65253a5be9a479dc"  # github.com/nyu-mll/crows-pairs
BEC_COMMIT = "c1e28434555f79b59e13e3f5ff87846e653fb553"  # github.com/marionbartl/gender-bias-BERT
SEAT_COMMIT = "e3559fb669ca4832743b42fee715994c15c7f1af"  # github.com/W4ngatang/sent-bias
# relative name (also the layout of the cache and of ../shared/data) -> public raw address
SOURCES = {
    "crows_pairs/crows_pairs_anonymized.csv":
        f"https://raw.githubusercontent.com/nyu-mll/crows-pairs/{CROWS_COMMIT}/data/crows_pairs_anonymized.csv",
    "bec_pro/BEC-Pro_EN.tsv":
        f"https://raw.githubusercontent.com/marionbartl/gender-bias-BERT/{BEC_COMMIT}/BEC-Pro/BEC-Pro_EN.tsv",
}
SEAT_URL = f"https://raw.githubusercontent.com/W4ngatang/sent-bias/{SEAT_COMMIT}/tests/{{name}}.jsonl"
KNOWN_HASHES = {  # relative name -> pooch's known_hash of the public file
    "crows_pairs/crows_pairs_anonymized.csv": "sha256:dfb36986ce0502abbaf7055b9176da3d08d48e07df1251991b5dfbcbceab9d0c",
    "bec_pro/BEC-Pro_EN.tsv": "sha256:228b44c62d7830fec13a1eee52bbe8afff82be455abb9d8a07c17d9d0b48e20f",
    "seat/heilman_double_bind_competent_one_word.jsonl":
        "sha256:2926a59745fa07c4069cdfe5eec3153b3a1eb43e1edeefe41667765f2b87a32f",
    "seat/sent-heilman_double_bind_competent_one_word.jsonl":
        "sha256:cc99565db26eaea3b09fe73b93109a6c3c11decb7b320f73942abdd7f60fa5d4",
    "seat/sent-weat6.jsonl": "sha256:bcf1a6864e3da0e8982d70451721877f23e2efaf6aea33628df843d826b68ae2",
    "seat/sent-weat6b.jsonl": "sha256:8d1dd09833d1854784503c2eb9986d1951d684fb3289a18da85e72fa1e59e4ff",
    "seat/sent-weat7.jsonl": "sha256:86c151b640bc9ebf6f60cd94920ab1f5bff68ea1a993f322f729cf3620173e0f",
    "seat/sent-weat8.jsonl": "sha256:352fea8d5440800a219dd6141a6f5e414a708770bc2717bfc581bc249e108ded",
    "seat/weat6.jsonl": "sha256:21681d3f4d7fdf97cf4cd2c0f9160940cfbd797ec62c7621b5600dc9e6e5b248",
    "seat/weat6b.jsonl": "sha256:b6c85b5228a3786827b528af3d633fbbddc4fbf05d93e6ceb6f76a4881386c1d",
    "seat/weat7.jsonl": "sha256:c7e68ec95e30f42df3faa9e1ba933596c9e49651e0017bb90c19d0f58312f2b0",
    "seat/weat8.jsonl": "sha256:86e650b44e8fd539a9082564f5ede5dae2ed67d120938b9c92a7495f143801e9",
}
SEAT_TESTS = ("sent-weat6", "sent-weat6b", "sent-weat7", "sent-weat8", "sent-heilman_double_bind_competent_one_word",
              "weat6", "weat6b", "weat7", "weat8", "heilman_double_bind_competent_one_word")
LICENSES = {
    "crows_pairs": "CrowS-Pairs, Nangia et al. 2020, CC BY-SA 4.0 (github.com/nyu-mll/crows-pairs)",
    "bec_pro": "BEC-Pro, Bartl et al. 2020, CC BY 4.0 (github.com/marionbartl/gender-bias-BERT)",
    "seat": "SEAT, May et al. 2019, CC BY-NC 4.0 (github.com/W4ngatang/sent-bias)",
}


@dataclass(frozen=True)
class CrowsPair:
    index: int
    sent_more: str  # the more stereotyping sentence
    sent_less: str
    direction: str  # "stereo" | "antistereo"
    bias_type: str
    extra: tuple[tuple[str, str], ...] = ()  # every other column of the file: (name, value)


@dataclass(frozen=True)
class BecProRow:
    index: int
    sentence: str
    sent_tm: str  # person word masked
    sent_tam: str  # person word and profession masked
    template: str
    person: str
    gender: str
    profession: str
    prof_gender: str
    extra: tuple[tuple[str, str], ...] = ()  # every other column of the file (Sent_AM, ...): (name, value)
    person_rank: int = -1  # rank of the person word among its gender's words, in file order (He 0, man 1...)


@dataclass(frozen=True)
class SeatTest:
    name: str
    targ1: tuple[str, ...]  # X
    targ2: tuple[str, ...]  # Y
    attr1: tuple[str, ...]  # A
    attr2: tuple[str, ...]  # B
    categories: tuple[str, str, str, str]  # targ1, targ2, attr1, attr2


# The file's own column names of the fields a breakdown can group by (other columns live in ``extra``).
GROUP_COLUMNS = {
    "crows_pairs": {"bias_type": "bias_type", "stereo_antistereo": "direction"},
    "bec_pro": {"Prof_Gender": "prof_gender", "Gender": "gender", "Template": "template", "Person": "person",
                "Profession": "profession"},
}
REQUIRED_COLUMNS = {
    "crows_pairs": ("sent_more", "sent_less", "stereo_antistereo", "bias_type"),
    "bec_pro": ("Sentence", "Sent_TM", "Sent_TAM", "Template", "Person", "Gender", "Profession", "Prof_Gender"),
}
EXAMPLE_ROWS = {
    "crows_pairs": "sent_more,sent_less,stereo_antistereo,bias_type\n"
                   "The poor are really ignorant about money.,The rich are really ignorant about money.,stereo,"
                   "socioeconomic",
    "bec_pro": "Sentence\tSent_TM\tSent_TAM\tTemplate\tPerson\tGender\tProfession\tProf_Gender\n"
               "He is a nurse.\t[MASK] is a nurse.\t[MASK] is a [MASK].\t<person subject> is a <profession>.\tHe"
               "\tmale\tnurse\tfemale",
}
INDEX_COLUMNS = ("", "Unnamed: 0")  # pandas' unnamed index column: read as the item's index, not kept


def column_value(item: object, column: str) -> str:
    """The value of a data column for an item or a scored row: a named field (``bias_type``; the file's own
    name such as ``stereo_antistereo``, ``Prof_Gender``) or an extra column kept from the file ('' if the item
    lacks it)."""
    for mapping in GROUP_COLUMNS.values():
        if column in mapping and hasattr(item, mapping[column]):
            return str(getattr(item, mapping[column]))
    if hasattr(item, column) and column not in ("extra",):
        return str(getattr(item, column))
    return dict(getattr(item, "extra", ()) or ()).get(column, "")


def data_columns(probe: str, items: tuple) -> list[str]:
    """The columns a breakdown can group by: the data set's group columns, then the extra columns of the file."""
    extra = list(dict.fromkeys(name for item in items for name, _ in getattr(item, "extra", ())))
    return list(GROUP_COLUMNS.get(probe, {})) + extra


def column_values(items, column: str) -> list[str]:
    """The distinct values of ``column`` in ``items``, sorted."""
    return sorted({column_value(i, column) for i in items})


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (the data set's identity in exports and the run store)."""
    h = hashlib.sha256()
    with open(Path(path).expanduser(), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- files, cache and download ----------------------------------------------------------------------

def cache_dir() -> Path:
    return settings().cache_root / "bias"


def check_size(size: int, what: str) -> None:
    if size == 0:
        raise InvalidInputError(msg('{what} is empty', what=what))
    if size > MAX_FILE_BYTES:
        raise InvalidInputError(msg('{what} is {value:.1f} MB; bias data files are limited to {value2:.0f} MB', what=what, value=size / 2 ** 20, value2=MAX_FILE_BYTES / 2 ** 20))


def read_text(path: str | os.PathLike) -> str:
    """The text of a local file, after checking that it exists, is not empty and is not too big."""
    from plm_core.errors import excerpt
    from plm_core.paths import is_file, user_path

    p = user_path(str(path), msg("file"))
    if not is_file(p):
        raise InvalidInputError(msg("no such file: {p}", p=excerpt(str(p))))
    check_size(p.stat().st_size, msg("the file {name}", name=p.name))  # a file name: at most 255 bytes
    try:
        return p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise InvalidInputError(msg("{name} is not UTF-8 text ({reason})", name=p.name, reason=err.reason)) from None
    except OSError as err:
        raise InvalidInputError(msg("cannot read {name}: {reason}", name=excerpt(p.name),
                                    reason=err.strerror or err)) from None


def decode_upload(data: bytes, name: str = "the upload") -> str:
    check_size(len(data), name)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InvalidInputError(msg('{name} is not UTF-8 text ({reason})', name=name, reason=err.reason)) from None


def source_url(relative: str, base_url: str | None = None) -> str:
    base = base_url or settings().bias_data_url
    if base:
        return base.rstrip("/") + "/" + relative
    if relative.startswith("seat/"):
        return SEAT_URL.format(name=Path(relative).stem)
    return SOURCES[relative]


def pinned_hash(relative: str, base_url: str | None = None) -> str | None:
    """pooch's ``known_hash`` for ``relative`` from its public address; None from an address the deployment or a
    test gives (``base_url`` or :data:`URL_ENV`): that source is its owner's, not the pinned public file."""
    return None if (base_url or settings().bias_data_url) else KNOWN_HASHES.get(relative)


def _downloader(timeout: float):
    """pooch downloader: urllib, at most :data:`MAX_FILE_BYTES`, errors as InvalidInputError."""
    def download(url: str, output_file, pooch_obj, check_only: bool = False) -> bool | None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - https or a local test server
                if check_only:
                    return True
                data = resp.read(MAX_FILE_BYTES + 1)
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise InvalidInputError(msg('could not download {url} ({reason}); download it yourself and give its '
                                        'local path instead',
                                        url=url, reason=reason)) from None
        check_size(len(data), msg("the download from {url}", url=url))
        if isinstance(output_file, (str, os.PathLike)):
            Path(output_file).write_bytes(data)
        else:
            output_file.write(data)
        return None
    return download


def fetch(relative: str, *, base_url: str | None = None, cache: Path | None = None, timeout: float = 30,
          known_hash: str | None = "pinned") -> Path:
    """Path of ``relative`` in the cache, downloading it first if it is not there yet (``pooch.retrieve``).

    Args:
        relative: the file's name under the cache, e.g. "crows_pairs/crows_pairs_anonymized.csv".
        base_url: download from here instead of the pinned public address (also env :data:`URL_ENV`).
        known_hash: "sha256:<hex>" the file must have, None for no check; "pinned" (default): :func:`pinned_hash` (the public file's, none
            for another address). pooch checks it after the download and on a cached copy (downloading again
            when the cached copy differs).

    Raises:
        InvalidInputError: the download failed, is over :data:`MAX_FILE_BYTES`, or its hash is not the pinned one
            (the file is not kept).
    """
    if known_hash == "pinned":
        known_hash = pinned_hash(relative, base_url)
    target = (cache or cache_dir()) / relative
    if known_hash is None and target.is_file() and target.stat().st_size > 0:
        return target
    url = source_url(relative, base_url)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        return Path(pooch.retrieve(url, known_hash, fname=target.name, path=target.parent,
                                   downloader=_downloader(timeout), progressbar=False))
    except ValueError as err:  # pooch: "SHA256 hash of downloaded file (...) does not match the known hash"
        raise InvalidInputError(msg("the download from {url} is not the pinned file ({reason}); it was not kept",
                                    url=url, reason=str(err).splitlines()[0])) from None


def _resolve(path: str | os.PathLike | None, relative: str, base_url: str | None, cache: Path | None) -> str:
    return read_text(path if path is not None else fetch(relative, base_url=base_url, cache=cache))


def _table(text: str, required: tuple[str, ...], what: str, delimiter: str) -> list[dict[str, str]]:
    if not text.strip():
        raise InvalidInputError(msg('{what} is empty', what=what))
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    columns = [c for c in (reader.fieldnames or []) if c is not None]
    missing = [c for c in required if c not in columns]
    if missing:
        raise InvalidInputError(msg('{what} lacks the column(s) {value}; it needs {value2} (found: {value3})', what=what, value=', '.join(missing), value2=', '.join(required), value3=', '.join((c for c in columns if c)) or 'none'))
    rows = list(reader)
    if not rows:
        raise InvalidInputError(msg('{what} has a header but no rows', what=what))
    return rows


# ---- the data sets ----------------------------------------------------------------------------------

def _extra(row: dict[str, str], used: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((k, (v or "").strip()) for k, v in row.items()
                 if k is not None and k not in used and k not in INDEX_COLUMNS)


def parse_crows_pairs(text: str) -> tuple[CrowsPair, ...]:
    """CrowS-Pairs pairs from CSV text; every column besides the four required ones is kept in ``extra``."""
    required = REQUIRED_COLUMNS["crows_pairs"]
    rows = _table(text, required, "the CrowS-Pairs file", ",")
    pairs = []
    for i, row in enumerate(rows):
        direction = (row["stereo_antistereo"] or "").strip()
        if direction not in ("stereo", "antistereo"):
            raise InvalidInputError(msg('CrowS-Pairs row {i}: stereo_antistereo is {direction!r}, not '
                                        'stereo/antistereo',
                                        i=i, direction=direction))
        index = int(row[""]) if (row.get("") or "").strip().isdigit() else i
        pairs.append(CrowsPair(index, row["sent_more"].strip(), row["sent_less"].strip(), direction,
                               row["bias_type"].strip(), _extra(row, required)))
    return tuple(pairs)


def load_crows_pairs(path: str | os.PathLike | None = None, *, base_url: str | None = None,
                     cache: Path | None = None) -> tuple[CrowsPair, ...]:
    """The 1,508 CrowS-Pairs pairs from ``path``, or from the cache (downloaded on first use)."""
    return parse_crows_pairs(_resolve(path, "crows_pairs/crows_pairs_anonymized.csv", base_url, cache))


def parse_bec_pro(text: str) -> tuple[BecProRow, ...]:
    """BEC-Pro rows from TSV text; columns besides the required ones (Sent_AM, ...) are kept in ``extra``.

    ``person_rank`` numbers each gender's person words in order of first appearance (He 0, man 1, ... and
    She 0, woman 1, ...): rows of the same template and profession with the same rank are counterparts.
    """
    cols = REQUIRED_COLUMNS["bec_pro"]
    rows = _table(text, cols, "the BEC-Pro file", "\t")
    out = []
    ranks: dict[str, dict[str, int]] = {}
    for i, row in enumerate(rows):
        index = int(row[""]) if (row.get("") or "").strip().isdigit() else i
        gender, person = row["Gender"].strip(), row["Person"].strip()
        rank = ranks.setdefault(gender, {}).setdefault(person.lower(), len(ranks[gender]))
        out.append(BecProRow(index, row["Sentence"], row["Sent_TM"], row["Sent_TAM"], row["Template"],
                             person, gender, row["Profession"].strip(), row["Prof_Gender"].strip(),
                             _extra(row, cols), rank))
    return tuple(out)


def load_bec_pro(path: str | os.PathLike | None = None, *, base_url: str | None = None,
                 cache: Path | None = None) -> tuple[BecProRow, ...]:
    """The 5,400 BEC-Pro (English) rows from ``path``, or from the cache (downloaded on first use)."""
    return parse_bec_pro(_resolve(path, "bec_pro/BEC-Pro_EN.tsv", base_url, cache))


def parse_seat(text: str, name: str = "seat") -> SeatTest:
    if not text.strip():
        raise InvalidInputError(msg('the SEAT file {name} is empty', name=name))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidInputError(msg('the SEAT file {name} is not JSON ({msg}, line {lineno})', name=name, msg=err.msg, lineno=err.lineno)) from None
    keys = ("targ1", "targ2", "attr1", "attr2")
    if not isinstance(data, dict) or any(k not in data for k in keys):
        found = ", ".join(data) if isinstance(data, dict) else type(data).__name__
        raise InvalidInputError(msg('the SEAT file {name} needs the keys {value} (found: {found})', name=name, value=', '.join(keys), found=found))
    sets = []
    for k in keys:
        part = data[k]
        examples = part.get("examples") if isinstance(part, dict) else None
        if not isinstance(examples, list) or not examples or not all(isinstance(e, str) for e in examples):
            raise InvalidInputError(msg("the SEAT file {name}: {k} needs a non-empty list of strings under 'examples'", name=name, k=k))
        sets.append(tuple(e.strip() for e in examples))
    cats = tuple(str(data[k].get("category", k)) for k in keys)
    return SeatTest(name, *sets, categories=cats)  # type: ignore[arg-type]


def load_seat(name_or_path: str | os.PathLike = "sent-weat6", *, base_url: str | None = None,
              cache: Path | None = None) -> SeatTest:
    """A SEAT/WEAT test: a known name (``sent-weat6``...) from the cache/download, or a local .jsonl path."""
    from plm_core.errors import excerpt
    from plm_core.paths import is_dir, is_file, user_path

    p = user_path(str(name_or_path), msg("SEAT file"))
    if p.suffix in (".jsonl", ".json") or is_file(p) or is_dir(p):
        return parse_seat(read_text(p), p.stem)
    name = str(name_or_path)
    if name not in SEAT_TESTS:
        raise InvalidInputError(msg("unknown SEAT test {name}; choose one of {value} or give a path", name=excerpt(name),
                                    value=", ".join(SEAT_TESTS)))
    return parse_seat(read_text(fetch(f"seat/{name}.jsonl", base_url=base_url, cache=cache)), name)
