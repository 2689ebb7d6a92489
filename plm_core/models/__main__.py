"""``python -m plm_core.models prepare [smollm2 gemma3]``: convert the embedded GGUF models ahead of class.

``python -m plm_core.models list`` shows each embedded model, whether it is installed and converted, and where.
"""

from __future__ import annotations

import argparse
import sys
import time

from plm_core.errors import PlmCoreError
from plm_core.i18n import tr
from plm_core.models import EMBEDDED, folder, installed, is_prepared, prepare, record


def _bar(key: str):
    """A one-line text progress bar on stderr for one model's conversion."""
    started = time.monotonic()

    def show(fraction: float, text: str) -> None:
        width = 30
        done = int(round(width * max(0.0, min(1.0, fraction))))
        sys.stderr.write(f"\r{key:8} [{'#' * done}{'.' * (width - done)}] {100 * fraction:5.1f}%  "
                         f"{time.monotonic() - started:5.0f} s  {tr(text)[:60]:60}")
        sys.stderr.flush()

    return show


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m plm_core.models", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    converted = [k for k, m in EMBEDDED.items() if m.converted]
    p = sub.add_parser("prepare", help="convert embedded GGUF models into the cache ($PLM_CACHE/models)")
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help=f"models to convert, of {', '.join(converted)} (default: all)")
    sub.add_parser("list", help="list the embedded models")
    args = parser.parse_args(argv)
    if args.command == "list":
        for key, model in EMBEDDED.items():
            state = ("not installed" if not installed(model) else "ready" if is_prepared(model) else
                     "installed, not converted yet")
            print(f"{key:9} {model.kind:10} {state:30} {folder(model) if installed(model) else ''}")
        return 0
    unknown = [k for k in args.models if k not in converted]
    if unknown:
        parser.error(f"unknown model {unknown[0]!r}: choose from {', '.join(converted)}")
    status = 0
    for key in args.models or converted:
        try:
            path = prepare(key, progress=_bar(key))
        except PlmCoreError as err:
            sys.stderr.write(f"\n{key}: {tr(err)}\n")
            status = 1
            continue
        seconds = (record(EMBEDDED[key]) or {}).get("seconds", {})
        sys.stderr.write(f"\n{key}: {path}" + (f" (converted in {seconds.get('total')} s)" if seconds else "") + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
