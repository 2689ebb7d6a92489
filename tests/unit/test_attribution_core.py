"""Attribution core on tiny models: exactness on a linear toy, equality with plain captum, targets, safety."""

from __future__ import annotations

import json
import threading
import warnings

import numpy as np
import pytest
import torch
from captum.attr import LayerIntegratedGradients

from conftest import assert_no_hooks
from plm_core.attribution import METHODS, Target, attribute, estimate_seconds
from plm_core.attribution import methods as M
from plm_core.attribution.objective import Objective, baseline_embeds, build_objective
from plm_core.attribution.report import rank_agreement, to_csv, to_json
from plm_core.errors import InvalidInputError, UnknownMethodError, UnsupportedModelError
from plm_core.inference import embed, predict
from plm_core.viz.attribution_plots import score_color, token_highlight_html

warnings.filterwarnings("ignore", message=".*required_grads has been set automatically.*")
MLM_TEXT = "the man worked as a [MASK] ."


def _ctx(handle, obj, base, n_steps=None, tolerance=0.01):
    with torch.no_grad():
        fx, fb = obj.f(torch.cat([obj.input_embeds, base])).tolist()
    return M.Context(handle, obj, obj.input_embeds.clone().requires_grad_(), base, fx, fb, tolerance, n_steps, {})


@pytest.mark.parametrize("n_steps", [None, 5, 16])
def test_linear_toy_ig_is_exact(tiny_handles, n_steps):
    """For f(e) = Σ e·w, IG of token i is exactly (x_i − x'_i)·w_i, for any rule and step count."""
    handle = tiny_handles["encoder"]
    with handle.lock:
        obj = build_objective(handle, "the cat sat", Target("similarity", other="a dog"))
    w = torch.randn_like(obj.input_embeds)
    toy = Objective(obj.encoding, obj.input_embeds, obj.fixed, lambda e: (e * w).sum((1, 2)), obj.target, None,
                    "toy", None, ())
    base = baseline_embeds(handle, toy, "zero")
    scores, info = M.integrated_gradients(_ctx(handle, toy, base, n_steps))
    expected = ((obj.input_embeds - base) * w).sum(-1)[0].numpy()
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    assert expected[0] == 0 and expected[-1] == 0  # [CLS]/[SEP] are kept in the baseline
    if n_steps is None:
        assert info["n_steps"] == 9 and info["tries"] == 1 and info["met"]  # linear: 9 nodes are already exact


@pytest.mark.parametrize("kind,text,target", [
    ("masked_lm", MLM_TEXT, Target("token", word="doctor")),
    ("classifier", "good movie", Target("class", class_id=1)),
    ("causal_lm", "the cat sat on the", Target("next_token", word="mat")),
    ("distilbert_mlm", MLM_TEXT, Target("token", word="nurse", output="logit")),
])
def test_ig_equals_plain_captum_lig(tiny_handles, kind, text, target):
    """Our IG (no hooks, head at one position) = captum LayerIntegratedGradients on the word embeddings."""
    handle = tiny_handles[kind]
    ours = attribute(handle, text, target=target, n_steps=20)
    model, tok = handle.model, handle.tokenizer
    batch = tok(text, return_tensors="pt")
    ids = batch["input_ids"]
    special = torch.tensor(ours.encoding.special) | (ids[0] == (tok.mask_token_id or -1))  # the [MASK] stays
    base_ids = torch.where(special, ids[0], torch.tensor(tok.pad_token_id))[None]
    pos = ours.encoding.input_ids.index(tok.mask_token_id) if tok.mask_token_id in ours.encoding.input_ids else -1
    tid = ours.target_id
    extra = {k: v for k, v in batch.items() if k != "input_ids"}

    def forward(input_ids):
        kw = {k: v.expand(input_ids.shape[0], -1) for k, v in extra.items()}
        logits = model(input_ids=input_ids, **kw).logits
        if kind == "classifier":
            return logits.softmax(-1)[:, tid]
        out = logits[:, pos]
        return out[:, tid] if target.output == "logit" else out.softmax(-1)[:, tid]

    lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
    ref = lig.attribute(ids, baselines=base_ids, n_steps=20, method="gausslegendre").sum(-1)[0].detach().numpy()
    np.testing.assert_allclose(ours.scores, ref, rtol=1e-4, atol=1e-6)
    assert_no_hooks(model)


def test_contrast_is_difference_of_single_targets(tiny_mlm):
    """IG is linear in the target: IG(logit he − logit she) = IG(logit he) − IG(logit she)."""
    kw = dict(n_steps=16, baseline="pad")
    both = attribute(tiny_mlm, MLM_TEXT, target=Target("contrast", word="he", contrast="she"), **kw)
    he = attribute(tiny_mlm, MLM_TEXT, target=Target("token", word="he", output="logit"), **kw)
    she = attribute(tiny_mlm, MLM_TEXT, target=Target("token", word="she", output="logit"), **kw)
    np.testing.assert_allclose(both.scores, he.scores - she.scores, rtol=1e-4, atol=1e-5)
    assert both.f_x == pytest.approx(he.f_x - she.f_x, abs=1e-5)
    assert "rather than" in both.target_label


@pytest.mark.parametrize("kind,text,target", [
    ("masked_lm", MLM_TEXT, Target("token", word="doctor")),
    ("masked_lm", MLM_TEXT, Target("contrast", word="he", contrast="she")),
    ("classifier", "good movie", None),
    ("causal_lm", "the cat sat on the", None),
    ("causal_lm", "the cat sat on the", Target("contrast", word="mat", contrast="dog")),
    ("encoder", "the cat sat", Target("similarity", other="a dog ran")),
    ("roberta_mlm", MLM_TEXT, Target("token", word="he", output="logit")),
])
@pytest.mark.parametrize("baseline", ["pad", "zero"])
def test_adaptive_ig_completeness_tiny(tiny_handles, kind, text, target, baseline):
    res = attribute(tiny_handles[kind], text, target=target, baseline=baseline)
    assert res.delta_rel < 0.01, res.params
    assert res.delta_abs == pytest.approx(abs(res.scores.sum() - (res.f_x - res.f_baseline)), abs=1e-5)
    # no refinement on a tiny model: at most the probe's gradients (a short Clenshaw–Curtis rule) + the fixed
    # 50-step rule it is never less complete than (the probe alone when the short rule is exact)
    from plm_core.attribution.methods import FIXED_STEPS, LEVELS

    assert res.params["n_steps"] <= FIXED_STEPS + LEVELS[1] + 1, res.params


def test_target_class(tiny_classifier):
    pred = predict(tiny_classifier, "good movie")
    res = attribute(tiny_classifier, "good movie", "saliency")
    assert res.target.class_id == int(np.argmax(pred.probs)) and res.target.label == pred.top_label
    assert res.f_x == pytest.approx(float(pred.probs.max()), abs=1e-5)
    other = attribute(tiny_classifier, "good movie", "saliency", target=Target("class", label="negative", output="logit"))
    assert other.target_id == 0 and "negative" in other.target_label
    with pytest.raises(InvalidInputError, match="unknown class"):
        attribute(tiny_classifier, "good movie", target=Target("class", label="neutral"))


def test_target_token_at_mask(tiny_mlm):
    pred = predict(tiny_mlm, MLM_TEXT, top_k=3)
    dist = pred.distributions[0]
    res = attribute(tiny_mlm, MLM_TEXT, "input_x_gradient")  # default: the predicted word
    assert res.target_id == dist.token_ids[0] and res.f_x == pytest.approx(float(dist.probs[0]), abs=1e-5)
    second = attribute(tiny_mlm, MLM_TEXT, "input_x_gradient", target=Target("token", word=dist.tokens[1]))
    assert second.f_x == pytest.approx(float(dist.probs[1]), abs=1e-5)


def test_target_contrast_value(tiny_mlm):
    res = attribute(tiny_mlm, MLM_TEXT, "saliency", target=Target("contrast", word="he", contrast="she"))
    tok = tiny_mlm.tokenizer
    with torch.no_grad():
        logits = tiny_mlm.model(**tok(MLM_TEXT, return_tensors="pt")).logits[0, res.encoding.input_ids.index(tok.mask_token_id)]
    he, she = tok.convert_tokens_to_ids(["he", "she"])
    assert res.f_x == pytest.approx(float(logits[he] - logits[she]), abs=1e-4)


def test_target_next_token(tiny_gpt2):
    pred = predict(tiny_gpt2, "the cat sat on the", top_k=2)
    res = attribute(tiny_gpt2, "the cat sat on the", "saliency")
    assert res.target_id == pred.distributions[0].token_ids[0]
    assert res.f_x == pytest.approx(float(pred.distributions[0].probs[0]), abs=1e-5)


def test_target_similarity(tiny_handles):
    handle = tiny_handles["encoder"]
    res = attribute(handle, "the cat sat", "saliency", target=Target("similarity", other="a dog ran"))
    a, b = embed(handle, ["the cat sat", "a dog ran"])
    assert res.f_x == pytest.approx(float(a @ b), abs=1e-5)
    assert res.target_id is None and "a dog ran" in res.target_label


def test_bad_inputs_give_clear_errors(tiny_handles, tiny_mlm, tiny_gpt2):
    with pytest.raises(InvalidInputError, match=r"no \[MASK\]"):
        attribute(tiny_mlm, "the man worked", target=Target("token", word="he"))
    with pytest.raises(InvalidInputError, match="second sentence"):
        attribute(tiny_handles["encoder"], "the cat", target=Target("similarity", other="  "))
    with pytest.raises(UnsupportedModelError, match="does not fit"):
        attribute(tiny_mlm, MLM_TEXT, target=Target("class"))
    with pytest.raises(UnknownMethodError, match="integrated_gradients"):
        attribute(tiny_mlm, MLM_TEXT, "shapley_magic")
    with pytest.raises(InvalidInputError, match="no mask token"):
        attribute(tiny_gpt2, "the cat", baseline="mask")
    with pytest.raises(InvalidInputError, match="foil"):
        attribute(tiny_mlm, MLM_TEXT, target=Target("contrast", word="he"))
    with pytest.raises(InvalidInputError, match="same token"):
        attribute(tiny_mlm, MLM_TEXT, target=Target("contrast", word="he", contrast="HE"))


def test_multi_piece_word_uses_first_piece(tiny_mlm):
    res = attribute(tiny_mlm, MLM_TEXT, "saliency", target=Target("token", word="zebra"))
    assert res.target_id == tiny_mlm.tokenizer.convert_tokens_to_ids("z")
    assert any("first piece" in n and "'z'" in n for n in res.notes), res.notes


def _break_layer(model, after_calls: int):
    """Make the last encoder layer raise on its n-th call (an exception mid-forward)."""
    layer = [m for name, m in model.named_modules() if name.endswith("layer.1") or name.endswith("h.1")][0]
    original, calls = layer.forward, {"n": 0}

    def broken(*a, **k):
        calls["n"] += 1
        if calls["n"] >= after_calls:
            raise RuntimeError("boom mid-forward")
        return original(*a, **k)

    layer.forward = broken
    return layer


@pytest.mark.parametrize("method", ["deeplift", "integrated_gradients", "occlusion"])
@pytest.mark.parametrize("after_calls", [1, 2])
def test_no_hook_or_sdpa_left_after_exception(tiny_mlm, method, after_calls):
    model = tiny_mlm.model
    layer = _break_layer(model, after_calls)
    try:
        with pytest.raises((RuntimeError, UnsupportedModelError)):
            attribute(tiny_mlm, MLM_TEXT, method, sdpa=True)
    finally:
        del layer.forward  # back to the class's forward
    assert_no_hooks(model)
    assert model.config._attn_implementation == "eager"
    assert not tiny_mlm.lock._is_owned()
    # and the model still gives the same result as before
    a = attribute(tiny_mlm, MLM_TEXT, "saliency")
    np.testing.assert_allclose(a.scores, attribute(tiny_mlm, MLM_TEXT, "saliency").scores)


def test_four_threads_equal_sequential(tiny_mlm, tiny_classifier):
    logit = Target("token", output="logit")
    jobs = [(tiny_mlm, MLM_TEXT, "integrated_gradients", None), (tiny_mlm, "the [MASK] sat on the mat", "kernel_shap", logit),
            (tiny_classifier, "good movie", "gradient_shap", None), (tiny_classifier, "bad film", "occlusion", None)] * 2
    sequential = [attribute(h, t, m, target=tg, n_samples=64).scores for h, t, m, tg in jobs]
    out: dict[int, np.ndarray] = {}

    def run(i):
        h, t, m, tg = jobs[i]
        out[i] = attribute(h, t, m, target=tg, n_samples=64).scores

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for i, ref in enumerate(sequential):
        np.testing.assert_array_equal(out[i], ref)  # bitwise: sampling seeded under one process-wide lock
    assert_no_hooks(tiny_mlm.model)


def test_memory_budget_bounds_batches_same_scores(tiny_mlm, monkeypatch):
    free = attribute(tiny_mlm, MLM_TEXT, n_steps=12)
    monkeypatch.setenv("PLM_ATTRIBUTION_MEMORY_MB", "0.05")  # 50 kB: one example per pass (plm_core.settings)
    assert M.batch_limit(tiny_mlm, len(free.encoding)) == 1
    bounded = attribute(tiny_mlm, MLM_TEXT, n_steps=12)
    assert bounded.params["internal_batch_size"] == 1 and free.params["internal_batch_size"] == 12
    np.testing.assert_allclose(bounded.scores, free.scores, rtol=1e-4, atol=1e-6)
    adaptive = attribute(tiny_mlm, MLM_TEXT)
    assert adaptive.delta_rel < 0.01


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_runs_on_tiny_classifier(tiny_classifier, method):
    try:
        res = attribute(tiny_classifier, "good movie", method, n_samples=8)
    except UnsupportedModelError as err:
        assert method == "deeplift" and "DeepLift" in str(err)
        return
    assert res.scores.shape == (len(res.encoding),) and np.isfinite(res.scores).all()
    if method.startswith("attention"):
        assert res.scores.sum() == pytest.approx(1.0, abs=1e-4)  # one attention row (or rollout row)


def test_sampling_methods_are_deterministic(tiny_classifier):
    for m in ("kernel_shap", "lime", "gradient_shap"):
        a = attribute(tiny_classifier, "good movie", m, n_samples=8)
        b = attribute(tiny_classifier, "good movie", m, n_samples=8)
        np.testing.assert_array_equal(a.scores, b.scores)


def test_occlusion_is_f_minus_ablated(tiny_classifier):
    res = attribute(tiny_classifier, "good movie", "occlusion", target=Target("class", class_id=1, output="logit"))
    tok = tiny_classifier.tokenizer
    with torch.no_grad():
        full = tiny_classifier.model(**tok("good movie", return_tensors="pt")).logits[0, 1]
        ablated = tiny_classifier.model(**tok("[PAD] movie", return_tensors="pt")).logits[0, 1]
    assert res.scores[1] == pytest.approx(float(full - ablated), abs=1e-4)
    assert abs(res.scores[0]) < 1e-5 and abs(res.scores[-1]) < 1e-5  # specials are their own baseline


def test_rank_agreement_and_export(tiny_classifier):
    a = attribute(tiny_classifier, "good movie and fun plot", "occlusion")
    flipped = a.__class__(**{**a.__dict__, "method": "flipped", "scores": -a.scores})
    m = rank_agreement([a, a, flipped])
    assert m[0, 1] == pytest.approx(1.0) and m[0, 2] == pytest.approx(-1.0)
    k = rank_agreement([a, flipped], "kendall")
    assert k[0, 1] == pytest.approx(-1.0)
    payload = json.loads(to_json([a]))["attributions"][0]
    assert payload["method"] == "occlusion" and payload["baseline"] == "pad" and payload["model_id"] == a.model_id
    assert payload["scores"] == pytest.approx(a.scores.tolist())
    csv_text = to_csv([a])
    assert csv_text.splitlines()[0].startswith("model_id,revision,method,target,baseline,n_steps")
    assert len(csv_text.strip().splitlines()) == len(a.encoding) + 1
    other = attribute(tiny_classifier, "bad film", "occlusion")
    with pytest.raises(ValueError, match="different inputs"):
        rank_agreement([a, other])


def test_highlight_html_escapes_and_colours(tiny_classifier):
    res = attribute(tiny_classifier, "good <b>movie</b> & fun", "occlusion")
    html = token_highlight_html(res)
    assert "<b>" not in html and "&lt;" in html and "&amp;" in html
    assert html.count('class="plm-token"') == len(res.encoding)
    # the app's one diverging scale (plm_core.viz.theme): red raises, blue lowers, translucent over the page
    assert score_color(1.0) == "rgba(178,24,43,0.500)" and score_color(-1.0) == "rgba(33,102,172,0.500)"
    assert score_color(0.0) == "rgba(178,24,43,0.000)"


def test_estimate_seconds_grows_with_length(tiny_mlm):
    short = estimate_seconds(tiny_mlm, 16, "integrated_gradients")
    long = estimate_seconds(tiny_mlm, 256, "integrated_gradients")
    occ = estimate_seconds(tiny_mlm, 256, "occlusion")
    assert 0 < short < long and occ > estimate_seconds(tiny_mlm, 16, "occlusion")
    with pytest.raises(UnknownMethodError):
        estimate_seconds(tiny_mlm, 16, "nope")


@pytest.mark.parametrize("text", ["über", "a café 😂", "the cat sat on"])
def test_a_resolved_target_asks_for_the_same_token_again(tiny_gpt2, text):
    """A result's ``target`` explains the same vocabulary id when passed back (the Compare page reuses A's target on
    B). On the tiny byte-level GPT-2, 'über' predicts the token spelled 'à'; tokenising 'à' again gave another id."""
    first = attribute(tiny_gpt2, text, "saliency")
    again = attribute(tiny_gpt2, text, "saliency", target=first.target)
    assert first.target.token_id == first.target_id
    assert again.target_id == first.target_id and again.f_x == pytest.approx(first.f_x, rel=1e-6)
    # on another input (Compare: A's target on B) it is the same id, whatever B predicts
    other = attribute(tiny_gpt2, text + " now", "saliency", target=first.target)
    assert other.target_id == first.target_id
    for bad in (10**9, -1):
        with pytest.raises(InvalidInputError, match="outside this model's vocabulary"):
            attribute(tiny_gpt2, text, "saliency", target=Target("next_token", token_id=bad))
    for bad in ("abc", 3.7, float("nan"), True):  # not an integer id: refused when the target is made
        with pytest.raises(ValueError, match="token_id must be an integer"):
            Target("next_token", token_id=bad)
