"""The Ray Serve backend on a local Ray instance: a RemoteLens's results equal the LocalLens's, errors keep their
PlmCoreError class and message, the replica runs Lens methods only, forward-only calls from many sessions are
batched, data-set chunks fan out, the app's get_lens is the remote lens under PLM_BACKEND=ray, and the replica imports neither Streamlit nor ``ui``. Slow (a Ray instance and a replica start: ~40 s); skipped without ``ray[serve]``
(``pip install -r requirements-ray.txt``)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray.serve", reason="ray[serve] is not installed (pip install -r requirements-ray.txt)")

from plm_core.attention import extract_attention, query_key  # noqa: E402
from plm_core.attribution import Target, attribute  # noqa: E402
from plm_core.bias import templates  # noqa: E402
from plm_core.bias.crows_pairs import score_pairs  # noqa: E402
from plm_core.bias.datasets import CrowsPair  # noqa: E402
from plm_core.errors import InvalidInputError, PlmCoreError, UnknownMethodError  # noqa: E402
from plm_core.inference import predict  # noqa: E402
from plm_core.lens import LocalLens  # noqa: E402
from plm_core.loading import ModelSpec, load_model  # noqa: E402
from plm_core.masking import MaskSpec, mask_and_predict, occlusion_sweep  # noqa: E402
from plm_core.serving.handles import handle_cache  # noqa: E402
from plm_core.tolerances import PROBS as PROBS_TOLERANCE  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SPEC = ModelSpec("embedded", device="cpu")
TEXT = "The cat sat on the mat because it was tired."
# the app's own "equals the model" tolerance: a replica runs with Ray's thread count (OMP_NUM_THREADS = its CPUs),
# so its float32 sums are reordered (1.2e-6 measured on MiniLM's attention in CI, 0.0 with equal thread counts)
TOL = PROBS_TOLERANCE


def max_diff(a, b, path="result") -> float:
    """Largest |a - b| over every array of two (nested) results; other fields must be equal."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype, path
        return float(np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), path
        return max([0.0] + [max_diff(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
                            for f in dataclasses.fields(a) if f.name != "params"])
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b), path
        return max([0.0] + [max_diff(x, y, f"{path}[{i}]") for i, (x, y) in enumerate(zip(a, b))])
    if isinstance(a, float):
        return abs(a - b) if not (np.isnan(a) and np.isnan(b)) else 0.0
    assert a == b, f"{path}: {a!r} != {b!r}"
    return 0.0


@pytest.fixture(scope="module")
def ray_backend(monkeypatch_module):
    import ray
    from ray import serve

    from plm_core.serving.ray_replica import build_app
    from plm_core.serving import client as rb

    monkeypatch_module.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray's switch for a loopback-only node
    # address="local": a new instance of its own, never a cluster someone started with `ray start` on this machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "PLM_DEVICE": "cpu", "TOKENIZERS_PARALLELISM": "false"}})
    try:
        serve.start(proxy_location="Disabled")
        serve.run(build_app({"preload": "embedded"}), name=rb.APP_NAME, route_prefix=None)
        monkeypatch_module.setenv("PLM_BACKEND", "ray")
        rb.reset()
        yield rb
    finally:
        rb.reset()
        serve.shutdown()
        ray.shutdown()


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def local():
    return load_model(SPEC)


_HERE = handle_cache()  # this process's handles, for the remote lens's tokenizer-only methods


def remote(op, *args, **kwargs):
    """``RemoteLens(SPEC).<op>(*args, **kwargs)`` (its tokenizer-only methods would run on a handle here)."""
    from plm_core.serving.client import RemoteLens

    return getattr(RemoteLens(SPEC, _HERE), op)(*args, **kwargs)


def test_results_equal_in_process(ray_backend, local):
    """predict, attention, query·key, attribution, masking, occlusion and a template probe: replica == here."""
    tset = templates.EXAMPLE_SETS["Names with career and family words"]
    cases = {
        "predict": (remote("predict", TEXT), predict(local, TEXT)),
        "attention": (remote("extract_attention", TEXT), extract_attention(local, TEXT)),
        "query_key": (remote("query_key", TEXT, 2, 3), query_key(local, TEXT, 2, 3)),
        "attribution": (remote("attribute", TEXT, "integrated_gradients", target=Target("similarity", other="A dog."),
                               n_steps=16),
                        attribute(local, TEXT, "integrated_gradients", target=Target("similarity", other="A dog."),
                                  n_steps=16)),
        "masking": (remote("mask_and_predict", TEXT, MaskSpec((2, 5)), reference="A dog slept."),
                    mask_and_predict(local, TEXT, MaskSpec((2, 5)), reference="A dog slept.")),
        "occlusion": (remote("occlusion_sweep", TEXT), occlusion_sweep(local, TEXT)),
        "template probe": (remote("probe_templates", tset), templates.probe_templates(local, tset)),
    }
    diffs = {name: max_diff(got, want) for name, (got, want) in cases.items()}
    assert all(d <= TOL for d in diffs.values()), diffs
    assert type(cases["attribution"][0].scores) is np.ndarray and cases["attribution"][0].scores.dtype == np.float32


@pytest.mark.parametrize("op, args, kwargs, cls", [
    ("attribute", (TEXT, "no_such_method"), {}, UnknownMethodError),
    ("predict", ("",), {}, InvalidInputError),
    ("mask_and_predict", (TEXT, MaskSpec((0,))), {}, InvalidInputError),  # [CLS] cannot be masked
])
def test_replica_errors_reach_the_caller_unchanged(ray_backend, local, op, args, kwargs, cls):
    with pytest.raises(PlmCoreError) as here:
        getattr(LocalLens(SPEC, {SPEC: local}), op)(*args, **kwargs)
    with pytest.raises(PlmCoreError) as there:
        remote(op, *args, **kwargs)
    assert type(there.value) is type(here.value) and isinstance(there.value, cls)
    assert str(there.value) == str(here.value)


def test_the_replica_runs_lens_methods_only(ray_backend):
    """A name that is no Lens method (a private attribute of LocalLens here) is refused in the replica, as data."""
    with pytest.raises(UnknownMethodError, match="choose one of"):
        ray_backend.call(SPEC, "handle")
    with pytest.raises(UnknownMethodError):
        ray_backend.call(SPEC, "_get_handle", (SPEC,))


def test_the_app_lens_is_remote_under_the_ray_backend(ray_backend, local):
    """ui.lens.get_lens with PLM_BACKEND=ray: the caching lens around a RemoteLens; its results equal here."""
    from plm_core.serving.client import RemoteLens
    from ui.lens import get_lens

    lens = get_lens(SPEC)
    assert isinstance(lens.inner, RemoteLens)
    assert max_diff(lens.predict(TEXT, top_k=3), predict(local, TEXT, top_k=3)) <= TOL


def test_forward_calls_from_many_sessions_are_batched(ray_backend, local):
    """16 sessions at once (8 distinct sentences, each twice): merged into batches, every result exact."""
    texts = [f"Student {i} types a sentence about cats." for i in range(8)] * 2
    before = _stats(ray_backend)
    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(lambda t: remote("predict", t), texts))
    after = _stats(ray_backend)
    assert max(max_diff(g, predict(local, t)) for g, t in zip(got, texts)) <= TOL
    assert after["batched_calls"] > before["batched_calls"]
    assert after["merged"] + after["deduplicated"] > before["merged"] + before["deduplicated"]


def test_dataset_chunks_fan_out_and_equal_in_process(ray_backend, tiny_dirs):
    """CrowS-Pairs on a (tiny) masked LM: a chunk cut into pieces scored in the replicas == one local call, and
    RemoteLens.score_bias_chunk (pieces on several replicas, merged) == LocalLens.score_bias_chunk."""
    from plm_core.serving.client import RemoteLens

    spec = ModelSpec(str(tiny_dirs["masked_lm"]), device="cpu")
    pairs = tuple(CrowsPair(i, f"the man {w} here .", f"the woman {w} here .", "stereo", "gender")
                  for i, w in enumerate(["is", "was", "sat", "ran", "ate", "slept", "worked", "read", "sang"]))
    parts = ray_backend.call_many(spec, "score_pairs", [((pairs[s:s + 3],), {}) for s in range(0, 9, 3)])
    assert len(parts) == 3
    here = load_model(spec)
    rows, meta = RemoteLens(spec, {spec: here}).score_bias_chunk(pairs, probe="crows_pairs", config={})
    want_rows, want_meta = LocalLens(spec, {spec: here}).score_bias_chunk(pairs, probe="crows_pairs", config={})
    assert max_diff(tuple(rows), tuple(want_rows)) <= TOL and meta == want_meta
    # the same pieces scored here (a different batch composition rounds differently: ~1e-7 relative)
    assert max_diff(parts, [score_pairs(here, pairs[s:s + 3]) for s in range(0, 9, 3)]) <= TOL
    whole = score_pairs(here, pairs)
    assert [r.more_higher for r in sum(parts, ())] == [r.more_higher for r in whole]
    np.testing.assert_allclose([r.score_more for r in sum(parts, ())], [r.score_more for r in whole], rtol=1e-6)


def _stats(rb) -> dict:
    stats = rb.replica_stats()
    return {k: sum(s[k] for s in stats) for k in ("batched_calls", "merged", "deduplicated")}



def test_the_ray_replica_imports_neither_streamlit_nor_ui():
    """The replica is core code: in a fresh interpreter, importing it loads no Streamlit and no ``ui`` module."""
    code = textwrap.dedent("""
        import sys
        from plm_core.serving import ray_replica
        assert ray_replica.build_app and ray_replica.PlmModels
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("streamlit", "ui")))
    """)
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=600,
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
