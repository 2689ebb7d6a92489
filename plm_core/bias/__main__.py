"""Command line: ``python -m plm_core.bias {crows-pairs,bec-pro,seat,template} --model ... --out results.json``.

Runs the same probes as the Bias page, with a progress bar on stderr, and writes JSON (and optionally CSV
rows) with the configuration. Data come from ``--data`` (a local file) or the cache/download.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from plm_core.bias import common, datasets
from plm_core.errors import PlmCoreError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m plm_core.bias", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="probe", required=True)
    for name, help_ in (("crows-pairs", "CrowS-Pairs metric (masked LM)"), ("bec-pro", "BEC-Pro associations "
                        "(masked LM)"), ("seat", "SEAT effect size and p-value (sentence embeddings)"),
                        ("template", "a template set (any model kind)")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("--model", default="embedded", help="Hub id, local folder, or 'embedded' (default)")
        s.add_argument("--device", default=None, help="cpu, cuda, ... (default: the best available)")
        s.add_argument("--out", required=True, type=Path, help="results JSON file")
        s.add_argument("--csv", type=Path, help="also write the per-item rows as CSV")
        s.add_argument("--base-url", default=None, help="download base replacing the public addresses")
        if name in ("crows-pairs", "bec-pro"):
            s.add_argument("--data", default=None, help="local data file (default: download into the cache)")
            s.add_argument("--limit", type=int, default=None, help="only the first N items")
            s.add_argument("--batch-size", type=int, default=None)
        if name == "crows-pairs":
            s.add_argument("--bias-type", action="append", default=None, help="only this bias type (repeatable)")
        if name == "seat":
            s.add_argument("--data", default="sent-weat6", help="a SEAT test name or a local .jsonl path")
            s.add_argument("--samples", type=int, default=100_000, help="permutations when not exact")
            s.add_argument("--seed", type=int, default=0)
        if name == "template":
            src = s.add_mutually_exclusive_group(required=True)
            src.add_argument("--set", help="a built-in example set by name")
            src.add_argument("--data", help="a CSV with template, target and one column per slot")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from tqdm import tqdm

    from plm_core.loading import ModelSpec, load_model

    bar = tqdm(total=0, file=sys.stderr, unit="item", dynamic_ncols=True)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        handle = load_model(ModelSpec(args.model, device=args.device))
        if args.probe == "crows-pairs":
            from plm_core.bias.crows_pairs import run_crows_pairs

            pairs = datasets.load_crows_pairs(args.data, base_url=args.base_url)
            bar.set_description("CrowS-Pairs pairs")
            result = run_crows_pairs(handle, pairs, bias_types=args.bias_type, limit=args.limit,
                                 batch_size=args.batch_size, progress=progress, data_source=args.data or "download")
            line = f"CrowS-Pairs metric: {result.metric:.2f}% of {len(result.rows)} pairs"
        elif args.probe == "bec-pro":
            from plm_core.bias.bec_pro import run_bec_pro

            rows = datasets.load_bec_pro(args.data, base_url=args.base_url)
            bar.set_description("BEC-Pro rows")
            result = run_bec_pro(handle, rows, limit=args.limit, batch_size=args.batch_size, progress=progress,
                             data_source=args.data or "download")
            line = "BEC-Pro mean association: " + ", ".join(f"{k} {v['mean']:+.3f}" for k, v in result.by_gender().items())
        elif args.probe == "seat":
            from plm_core.bias.seat import run_seat

            test = datasets.load_seat(args.data, base_url=args.base_url)
            bar.set_description("SEAT permutations")
            result = run_seat(handle, test, n_samples=args.samples, seed=args.seed, progress=progress,
                          data_source=str(args.data))
            line = f"SEAT {test.name}: effect size {result.effect_size:.3f}, p = {result.p_value:.4g}"
        else:
            from plm_core.bias import templates

            if args.set:
                if args.set not in templates.EXAMPLE_SETS:
                    raise PlmCoreError(f"unknown set {args.set!r}; choose one of: {', '.join(templates.EXAMPLE_SETS)}")
                tset = templates.EXAMPLE_SETS[args.set]
            else:
                tset = templates.from_csv(datasets.read_text(args.data), Path(args.data).name)
            bar.set_description("template scores")
            result = templates.probe_templates(handle, tset, progress=progress)
            line = f"template set {tset.name!r}: {len(result.rows)} scores ({result.metric})"
    except PlmCoreError as err:
        bar.close()
        print(f"error: {err}", file=sys.stderr)
        return 2
    bar.close()
    args.out.write_text(result.to_json(), encoding="utf-8")
    if args.csv:
        args.csv.write_text(result.to_csv(), encoding="utf-8")
    print(common.CONTENT_WARNING, file=sys.stderr)
    print(line)
    print(f"wrote {args.out}" + (f" and {args.csv}" if args.csv else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
