"""ModelInfo (issue 26, items 1 and 4): every fact a page reads about a model, frozen and picklable, equal to the
facts read independently from the tiny model, its config and its tokenizer."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from helpers import TINY_ARCHS, TINY_KINDS, TINY_SEQ2SEQ
from plm_core.attribution import BASELINES, METHOD_SPECS, unavailable_methods
from plm_core.kinds import KINDS
from plm_core.kinds.texts import KIND_TEXTS, NLI_TEXT_LABELS
from plm_core.model_info import FrozenMap, ModelInfo, model_info

ALL_TINY = (*TINY_KINDS, *TINY_SEQ2SEQ, *TINY_ARCHS)


def _config_int(config, *names):
    return next(int(getattr(config, n)) for n in names if getattr(config, n, None) is not None)


@pytest.mark.parametrize("case", ALL_TINY)
def test_model_info_equals_the_facts_of_the_model(tiny_handles, case):
    h = tiny_handles[case]
    info = model_info(h)
    config, tok, model = h.model.config, h.tokenizer, h.model
    assert info.model_id == h.spec.model_id
    assert info.revision == (h.spec.revision or getattr(config, "_commit_hash", None))
    assert info.kind == h.kind and info.kind in KINDS
    assert info.model_type == config.model_type
    assert info.n_layers == _config_int(config, "num_hidden_layers", "n_layer", "num_layers")
    assert info.n_heads == _config_int(config, "num_attention_heads", "n_head", "num_heads")
    assert info.n_parameters == sum(p.numel() for p in model.parameters())
    assert info.device == "cpu" and info.device_description.startswith("cpu")
    assert info.mask_token == tok.mask_token
    assert info.encoder_decoder == bool(getattr(config, "is_encoder_decoder", False))
    if h.kind == "classifier":
        assert info.labels == tuple(config.id2label[i] for i in range(config.num_labels))
    else:
        assert info.labels == ()
    # each example is an input of its page: the mask token in, no placeholder left
    for page, text in info.examples.items():
        assert text.strip() and "{mask}" not in text
        assert info.example(page) == text
    assert info.example("no such page") == info.examples["default"]
    if info.output == "masked_token":
        assert tok.mask_token in info.example("default")
    if tok.convert_tokens_to_ids("<extra_id_0>") not in (None, tok.unk_token_id):  # T5: span filling
        assert "<extra_id_0>" in info.example("masking")
    # the masking lab reads a reference sentence for a sentence encoder only (plm_core.masking.EDIT_READOUTS)
    assert info.uses_reference == (h.kind == "encoder")
    # what the masking lab can hide a token with: the mask token, or a T5 sentinel
    assert info.can_mask == (tok.mask_token_id is not None or "<extra_id_0>" in info.example("default"))
    # attribution: every method and baseline, in their order, None or a reason
    assert tuple(info.methods) == tuple(METHOD_SPECS)
    assert tuple(info.baselines) == tuple(BASELINES)
    assert {m for m, r in info.methods.items() if r} == set(unavailable_methods(h))
    if info.encoder_decoder:
        assert info.methods["attention_rollout"] and info.methods["attention_last_layer"]
    assert bool(info.baselines["pad"]) == (tok.pad_token_id is None)
    assert bool(info.baselines["mask"]) == (tok.mask_token_id is None)
    assert info.baselines["zero"] is None
    # Evaluate: label words need an LM head, the classifier mode a classification head
    assert (info.evaluate_modes["classifier"] is None) == (h.kind == "classifier")
    assert (info.evaluate_modes["label_words"] is None) == (info.output == "masked_token"
                                                           or (info.output == "next_token" and info.prompt_is_prefix))


@pytest.mark.parametrize("case", ("masked_lm", "classifier", "causal_lm", "t5"))
def test_model_info_is_frozen_hashable_and_picklable(tiny_handles, case):
    info = model_info(tiny_handles[case])
    assert info is model_info(tiny_handles[case])  # built once per handle
    again = pickle.loads(pickle.dumps(info))
    assert again == info and hash(again) == hash(info)
    assert isinstance(again.methods, FrozenMap) and again.methods == dict(info.methods)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.n_layers = 99  # type: ignore[misc]
    with pytest.raises(TypeError):
        info.methods["saliency"] = "no"  # type: ignore[index]
    for field in dataclasses.fields(ModelInfo):
        value = getattr(info, field.name)
        hash(value)  # every field is immutable
        assert not isinstance(value, (list, dict, set))


def test_every_kind_has_its_texts():
    assert set(KIND_TEXTS) == set(KINDS)
    for kind, texts in KIND_TEXTS.items():
        assert texts.label and texts.prediction_title and dict(texts.examples)["default"].strip(), kind


def test_text_labels_follow_the_kind(tiny_handles):
    assert model_info(tiny_handles["t5"]).first_label == "Source"
    assert model_info(tiny_handles["masked_lm"]).first_label == "Sentence"
    classifier = model_info(tiny_handles["classifier"])
    assert classifier.takes_pair and classifier.text_labels != NLI_TEXT_LABELS  # negative / positive: not NLI


def test_frozen_map_keeps_order_and_equals_a_dict():
    m = FrozenMap({"b": 1, "a": None})
    assert list(m) == ["b", "a"] and m == {"a": None, "b": 1} and hash(m) == hash(FrozenMap((("b", 1), ("a", None))))
    assert pickle.loads(pickle.dumps(m)) == m


# What ui/ and pages/ may still read on a live handle (file, attribute): each a model run, not a fact a page shows.
# Every other fact comes from ModelInfo (Lens.info: widgets.require_info).
HANDLE_READS_ALLOWED = {
    ("ui/bias.py", "revision"): "the bias worker thread records the revision of the handle it runs (no session)",
    ("ui/lesson_views/explanation.py", "adapter"): "query_row(handle, encoding): the row the head reads, per input",
    ("ui/widgets.py", "spec"): "the cache key of a loaded model (which spec to offer), not a fact of the model",
    ("ui/evaluate.py", "spec"): "the cache key of a loaded model (which models to measure), not a fact of the model",
}
HANDLE_NAMES = {"handle", "h", "adapter"}  # the names a page gave a ModelHandle or its KindAdapter
NOT_MODEL_HANDLES: set[str] = set()  # files whose ``handle`` is not a ModelHandle (none since the Ray client left ui/)


def handle_reads(root) -> set[tuple[str, str]]:
    """(file, attribute) of every attribute read on a name bound to a handle (``handle.x``, ``h.x``,
    ``adapter.x``, ``ctx.handle.x``) in app.py, ui/ and pages/."""
    import ast

    found = set()
    for path in [root / "app.py", *(root / "ui").rglob("*.py"), *(root / "pages").rglob("*.py")]:
        rel = path.relative_to(root).as_posix()
        if rel in NOT_MODEL_HANDLES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Attribute):
                continue
            owner = node.value
            if (isinstance(owner, ast.Name) and owner.id in HANDLE_NAMES) or (
                    isinstance(owner, ast.Attribute) and owner.attr == "handle"):
                found.add((rel, node.attr))
    return found


def test_pages_and_ui_read_model_facts_from_model_info_not_a_handle():
    from helpers import ROOT

    reads = handle_reads(ROOT)
    extra = sorted(reads - set(HANDLE_READS_ALLOWED))
    assert not extra, "read ModelInfo (Lens.info, widgets.require_info) instead of a handle: " + ", ".join(map(str, extra))


# Where ui/ and pages/ may still call ``get_handle(`` (file -> number of calls, why): each only loads a model (the
# process's shared handle, so that it is in the loaded list), and runs no core function on it. Every model or
# tokenizer operation goes through the model's Lens (widgets.lens(), ctx.lens, ui.lens.get_lens).
GET_HANDLE_ALLOWED = {
    "ui/widgets.py": (1, "the sidebar loads the model the user chose, to report a failed load before switching"),
    "ui/lens.py": (1, "get_lens loads the page's model with its progress messages; the lens (which never calls back "
                     "into ui/) then finds it in the cache"),
    "pages/inside.py": (1, "'Apply to every page' loads the ablated copy and switches to its spec"),
}


def get_handle_calls(root) -> dict[str, int]:
    """Calls of ``get_handle`` (``get_handle(…)``, ``handles.get_handle(…)``) per file in app.py, ui/ and pages/."""
    import ast

    found: dict[str, int] = {}
    for path in [root / "app.py", *(root / "ui").rglob("*.py"), *(root / "pages").rglob("*.py")]:
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if name == "get_handle":
                    found[rel] = found.get(rel, 0) + 1
    return found


def test_pages_and_ui_reach_a_model_through_its_lens_not_get_handle():
    from helpers import ROOT

    calls = get_handle_calls(ROOT)
    extra = {f: n for f, n in calls.items() if n > GET_HANDLE_ALLOWED.get(f, (0, ""))[0]}
    assert not extra, "call a Lens method (widgets.lens(), ctx.lens, ui.lens.get_lens) instead of get_handle: " + str(extra)
    # the allow-list holds no stale entry either
    assert {f: n for f, (n, _why) in GET_HANDLE_ALLOWED.items()} == calls


def test_the_get_handle_check_sees_a_call(tmp_path):
    (tmp_path / "app.py").write_text("")
    (tmp_path / "ui").mkdir()
    (tmp_path / "pages").mkdir()
    (tmp_path / "ui" / "x.py").write_text("h = handles.get_handle(spec)\nget_handle(s)\n")
    (tmp_path / "pages" / "y.py").write_text("f = handles.get_handle  # passed, not called\n")
    assert get_handle_calls(tmp_path) == {"ui/x.py": 2}
