"""Command line: ``python -m plm_core.bias {crows-pairs,bec-pro,seat,template} --model ... --out results.json``.

Runs the same probes as the Bias page, with a progress bar on stderr, and writes JSON (configuration, summary
with intervals and tests, rows) and optionally CSV rows (plain CSV, provenance columns on every row). Data come
from ``--data`` (a local file) or the cache/download. ``--sample N --seed S`` scores a seeded random sample,
stratified by group. With ``--store`` the run is kept in the bias run store (the Bias page lists it) chunk by
chunk, and ``--resume RUN_ID`` continues a stopped or killed run there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from plm_core.bias import common, datasets
from plm_core.bias.stats import format_estimate, format_p
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
        s.add_argument("--store", nargs="?", const="", default=None, metavar="PATH",
                       help="keep the run in the bias run store (default path: $PLM_BIAS_STORE or the cache)")
        s.add_argument("--resume", type=int, default=None, metavar="RUN_ID",
                       help="continue a stored run (with --store); the other data options are ignored")
        if name in ("crows-pairs", "bec-pro"):
            s.add_argument("--data", default=None, help="local data file (default: download into the cache)")
            s.add_argument("--sample", "--limit", dest="sample", type=int, default=None,
                           help="a seeded random sample of N items (stratified by group) instead of all")
            s.add_argument("--seed", type=int, default=0, help="the sample's seed")
            s.add_argument("--stratify", default="bias_type" if name == "crows-pairs" else "Prof_Gender",
                           help="data column to stratify the sample by ('' for none)")
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
            s.add_argument("--layout", choices=["lists", "rows"], default="lists",
                           help="CSV columns are word lists (every combination) or rows as written")
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
        store = None
        if args.store is not None:
            from plm_core.bias.store import RunStore

            store = RunStore(args.store or None)
        if args.resume is not None:
            if store is None:
                raise PlmCoreError("--resume needs --store")
            result, line = _resume(store, args.resume, handle, progress, bar)
        else:
            probe, config, items, line_fn = _prepare(args, handle, bar)
            if store is not None:
                from plm_core.bias import jobs

                run_id = jobs.create_run(store, probe, config, items)
                print(f"stored as run #{run_id} in {store.path}", file=sys.stderr)
                result = jobs.run_to_end(store, run_id, handle, progress=progress)
            else:
                result = _run_direct(args, probe, handle, items, config, progress)
            line = line_fn(result)
    except PlmCoreError as err:
        bar.close()
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a stored run is marked stopped (its lease given back) by run_to_end
        bar.close()
        print("stopped: the chunks scored so far are stored; continue with --store --resume RUN_ID", file=sys.stderr)
        return 130
    bar.close()
    args.out.write_text(result.to_json(), encoding="utf-8")
    if args.csv:
        args.csv.write_text(result.to_csv(), encoding="utf-8", newline="")  # the \r\n rows as written
    print(common.CONTENT_WARNING, file=sys.stderr)
    print(line)
    print(f"wrote {args.out}" + (f" and {args.csv}" if args.csv else ""))
    return 0


def _sha(path) -> str:
    return datasets.file_sha256(path)


def _prepare(args, handle, bar):
    """(probe, config, items, summary-line function) of the command line's probe."""
    if args.probe == "crows-pairs":
        from plm_core.bias.crows_pairs import crows_config, select_pairs

        path = args.data or datasets.fetch("crows_pairs/crows_pairs_anonymized.csv", base_url=args.base_url)
        pairs = datasets.load_crows_pairs(path)
        items = select_pairs(pairs, args.bias_type, args.sample, seed=args.seed, stratify=args.stratify or None)
        config = crows_config(handle.model_id, handle.revision, args.bias_type, str(args.data or "download"),
                              data_sha256=_sha(path), sample_size=args.sample, seed=args.seed,
                              stratify=args.stratify or None, n_total=len(pairs), n_drawn=len(items))
        bar.set_description("CrowS-Pairs pairs")
        return "crows_pairs", config, items, lambda r: (
            f"CrowS-Pairs metric: {format_estimate(r.estimates(None)[0], suffix='%')} (95% Wilson) of "
            f"{len(r.rows)} pairs, binomial {format_p(r.estimates(None)[0].p_value)}")
    if args.probe == "bec-pro":
        from plm_core.bias.bec_pro import bec_config, select_rows

        path = args.data or datasets.fetch("bec_pro/BEC-Pro_EN.tsv", base_url=args.base_url)
        rows = datasets.load_bec_pro(path)
        items = select_rows(rows, None, args.sample, seed=args.seed, stratify=args.stratify or None)
        config = bec_config(handle.model_id, handle.revision, str(args.data or "download"), data_sha256=_sha(path),
                            sample_size=args.sample, seed=args.seed, stratify=args.stratify or None,
                            n_total=len(rows), n_drawn=len(items))
        bar.set_description("BEC-Pro rows")
        return "bec_pro", config, items, lambda r: "BEC-Pro mean association: " + ", ".join(
            f"{k} {v['mean']:+.3f} [{v['ci_low']:+.3f}, {v['ci_high']:+.3f}]" for k, v in r.by_gender().items()) + (
            "; " + "; ".join(f"{t.group}: {t.label_a} − {t.label_b} {t.mean_difference:+.3f}, Wilcoxon "
                             f"{format_p(t.p_value)}" for t in r.gender_tests()[:1]))
    if args.probe == "seat":
        test = datasets.load_seat(args.data, base_url=args.base_url)
        path = Path(args.data) if Path(args.data).exists() else datasets.cache_dir() / "seat" / f"{args.data}.jsonl"
        config = {"probe": "seat", "model_id": handle.model_id, "revision": handle.revision, "test": test.name,
                  "data": str(args.data), "data_sha256": _sha(path) if path.is_file() else "",
                  "n_samples": args.samples, "sample_seed": args.seed}
        bar.set_description("SEAT permutations")
        return "seat", config, (test,), lambda r: (
            f"SEAT {r.test}: effect size {r.effect_size:.3f} [{r.effect_size_ci[0]:.3f}, {r.effect_size_ci[1]:.3f}]"
            f" ({r.ci_method}), {r.p_text}")
    from plm_core.bias import templates

    if args.set:
        if args.set not in templates.EXAMPLE_SETS:
            raise PlmCoreError(f"unknown set {args.set!r}; choose one of: {', '.join(templates.EXAMPLE_SETS)}")
        tset, source, sha = templates.EXAMPLE_SETS[args.set], f"template set {args.set}", ""
    else:
        tset = templates.from_csv(datasets.read_text(args.data), Path(args.data).name, layout=args.layout)
        source, sha = args.data, _sha(args.data)
    items = templates.plan(handle, tset)
    config = templates.template_config(handle.model_id, handle.revision, handle.kind, tset, data_source=source,
                                       data_sha256=sha)
    bar.set_description("template sentences")
    return "template", config, items, lambda r: f"template set {tset.name!r}: {len(r.rows)} scores ({r.metric})"


def _run_direct(args, probe, handle, items, config, progress):
    if probe == "crows_pairs":
        from plm_core.bias.crows_pairs import CrowsPairsResult, score_pairs

        rows = score_pairs(handle, items, batch_size=args.batch_size, progress=progress)
        return CrowsPairsResult(handle.model_id, rows, config, len(items))
    if probe == "bec_pro":
        from plm_core.bias.bec_pro import BecProResult, score_rows

        rows, skipped = score_rows(handle, items, batch_size=args.batch_size, progress=progress)
        return BecProResult(handle.model_id, rows, skipped, config, len(items))
    if probe == "seat":
        from plm_core.bias.seat import run_seat

        return run_seat(handle, items[0], n_samples=args.samples, seed=args.seed, progress=progress,
                        data_source=config["data"], data_sha256=config["data_sha256"])
    from plm_core.bias import templates

    tset = templates.set_from_config(config)
    rows = []
    step = templates.chunk_size(handle, len(tset.targets))
    for start in range(0, len(items), step):
        rows += templates.score_filled(handle, tset.probe_slot, items[start:start + step])
        progress(start + len(items[start:start + step]), len(items))
    n_scores = sum(len(i.targets) for i in items)
    return templates.TemplateResult(handle.model_id, handle.kind, templates.metric(handle.kind), tset, tuple(rows),
                                    config, n_scores)


def _resume(store, run_id, handle, progress, bar):
    from plm_core import evaluate  # noqa: F401 - registers the Evaluate page's probe: its runs resume here too
    from plm_core.bias import jobs

    info = store.run(run_id)
    bar.set_description(f"run #{run_id} ({jobs.NAMES[info.probe]})")
    result = jobs.run_to_end(store, run_id, handle, progress=progress)
    return result, f"run #{run_id}: {store.run(run_id).n_done} of {info.n_items} items scored"


if __name__ == "__main__":
    sys.exit(main())
