"""Plain helpers for tests: import them as ``from helpers import ...``.

Not ``from conftest import ...``: tests/ and tests/browser/ both have a conftest.py, Python caches one
module named "conftest", and which one a test gets depends on collection order.
"""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

# the groups of the one table of tiny-model cases (plm_core.testing.TINY_CASES): core kinds, the rotary decoders among
# them, encoder-decoders (three attention stacks), and the newer architectures of the overviews
from plm_core.testing import TINY_ARCHS, TINY_DECODERS, TINY_KINDS, TINY_SEQ2SEQ, tiny_names  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``python -c code`` in a fresh interpreter at the repository root, with ``env`` over this environment (less
    OMP_WAIT_POLICY, so that a test sees plm_core's default)."""
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**base, **env})


def seed_everything(seed: int = 0) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _foreign_hook(fn: object) -> bool:
    """transformers 5's own output-capturing hooks: installed once, on first output_attentions, and kept."""
    return "install_output_capuring_hook" in getattr(fn, "__qualname__", "")


def assert_no_hooks(model: torch.nn.Module) -> None:
    """No forward/backward hook is left on any module (captum/our hooks removed in finally).

    transformers' permanent output-capturing hooks (inactive outside its own forward) are not ours and are
    ignored.
    """
    left = []
    for name, m in model.named_modules():
        hooks = [*m._forward_hooks.values(), *m._forward_pre_hooks.values(), *m._backward_hooks.values(),
                 *getattr(m, "_backward_pre_hooks", {}).values()]
        if any(not _foreign_hook(h) for h in hooks):
            left.append(name)
    assert not left, f"hooks left on: {left}"


def chart_specs(at) -> list[dict]:
    """The plotly figures an AppTest run drew, as figure JSON."""
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def plotly_array(value) -> np.ndarray:
    """A numeric plotly array from figure JSON: a list, or plotly's typed-array dict (base64 ``bdata``)."""
    if isinstance(value, dict):
        shape = tuple(int(d) for d in str(value.get("shape", "-1")).split(","))
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(shape)
    return np.asarray(value, dtype=float)


def open_page(app_factory, model_id, page: str, query: dict[str, str] | None = None):
    """An AppTest of app.py on ``model_id`` (a folder or an embedded model's id) with ``query`` parameters, switched to
    ``page`` (e.g. "pages/masking.py"), with no exception on the home page or the page."""
    at = app_factory(str(model_id), query)
    at.run()
    assert not at.exception, at.exception
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def assert_never_worse(auto, fixed) -> None:
    """Adaptive IG's completeness error ≤ the fixed rule's, or at the float32 rounding level (1e-6 × Σ|scores|),
    where two errors cannot be told apart. Both errors are taken against the same f(x) − f(x') (auto's): a
    separate call evaluates f in other batches, which moves it by float rounding (measured 4e-6 of the change)."""
    assert auto.delta_abs is not None and fixed.delta_abs is not None
    change = auto.f_x - auto.f_baseline
    assert abs(change) == pytest.approx(abs(fixed.f_x - fixed.f_baseline), rel=1e-4, abs=1e-6)
    auto_err = abs(float(np.asarray(auto.scores, np.float64).sum()) - change)
    fixed_err = abs(float(np.asarray(fixed.scores, np.float64).sum()) - change)
    noise = 1e-6 * float(np.abs(auto.scores).sum())
    assert auto_err <= max(fixed_err, noise), (
        f"auto {auto_err / abs(change):.5%} ({auto.params.get('n_steps')} gradients, {auto.params.get('rule')}) "
        f"vs fixed-50 {fixed_err / abs(change):.5%}")


def shown(body: str) -> str:
    """The text a Markdown body shows (escapes resolved, markup dropped, ui.safe's invisible joiners removed)."""
    import html as _html
    import re as _re

    from markdown_it import MarkdownIt

    out = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(str(body))
    return _html.unescape(_re.sub(r"<[^>]+>", "", out)).replace("\u2060", "").strip()


def lesson_query(lesson: int = 1, step: int = 1, *, lang: str = "en", presenter: bool = False, reveal: bool = False,
                 text: str | None = None, layer: int | None = None, head: int | None = None) -> dict[str, str]:
    """Query parameters of a link to a lesson step, as the app writes them: every input is a widget bound to the
    URL (``bind="query-params"``): the parameter is the widget key, a choice is its label, defaults are left out.

    Args:
        lesson, step: 1-based numbers. reveal: the step's answer shown. text: the lesson's sentence.
    """
    from plm_core.lessons.content import get_lesson

    query: dict[str, str] = {}
    if lesson != 1:
        query["lessons.lesson"] = f"{lesson}. {get_lesson(lesson).title(lang)}"
    if step != 1:
        query["lessons.step"] = str(step)
    if lang != "en":
        query["lang"] = lang  # the app's language (ui.language), which the lesson labels above are in
    if presenter:
        query["lessons.presenter"] = "true"
    if reveal:
        query[f"lessons.reveal.{lesson}.{step}"] = "true"
    if text is not None:
        query[f"lessons.text.{lesson}"] = text
    if layer is not None:
        query["lessons.layer"] = str(layer)
    if head is not None:
        query["lessons.head"] = str(head)
    return query


def hf_generate(handle, prompt_ids, n, settings) -> list[int]:
    """The ids ``model.generate`` draws after ``prompt_ids`` with ``settings`` (a ``SamplingSettings``; seeded as
    plm_core.generation seeds), cut after the first end-of-sequence token: the independent reference for generation."""
    ids = torch.tensor([list(prompt_ids)])
    kwargs = {"do_sample": False}
    if settings.do_sample:
        torch.manual_seed(settings.seed)
        kwargs = {"do_sample": True, "temperature": settings.temperature, "top_k": settings.top_k,
                  "top_p": settings.top_p}
    with handle.lock:
        out = handle.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                                    pad_token_id=handle.tokenizer.eos_token_id, **kwargs)
    new = out[0, ids.shape[1]:].tolist()
    eos = handle.tokenizer.eos_token_id
    return new[: new.index(eos) + 1] if eos in new else new


def row_the_head_reads(handle, text: str) -> int:
    """Independent: the one row whose score-head output equals the classifier's own logits."""
    from plm_core.tokens import encode

    _, batch = encode(handle, text)
    with torch.inference_mode():
        out = handle.model(**batch, output_hidden_states=True)
        per_row = handle.model.score(out.hidden_states[-1][0]).float()
    hits = [r for r in range(per_row.shape[0]) if torch.allclose(per_row[r], out.logits[0].float(), atol=1e-6)]
    assert len(hits) == 1, hits
    return hits[0]


MAX_PATIENCE = 10.0


def patience(ms: float) -> float:
    """``ms`` (a bound for a healthy run on an idle 2-core machine) stretched by how busy this machine is now: times
    the 1-minute load average per core when that is above 1, at most ``MAX_PATIENCE`` times. ``PLM_TEST_PATIENCE``
    (a factor) overrides the load. Every wait of these tests is on a condition; this only bounds how long a
    condition may take before the test fails (four tests failed at load 20-40 with fixed 5-30 s bounds)."""
    factor = os.environ.get("PLM_TEST_PATIENCE")
    if factor:
        return ms * float(factor)
    return ms * min(MAX_PATIENCE, max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1)))


def app_timeout(seconds: float = 120) -> float:
    """An AppTest run's timeout in seconds: ``seconds`` (an idle machine's bound) stretched by :func:`patience`
    (an AppTest run of the hostile-text property test on T5 took over 120 s at load 6-8 on 2 cores)."""
    return patience(seconds * 1000) / 1000
