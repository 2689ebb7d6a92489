"""AppTest of the Evaluate page on tiny models: an upload scored as a stored run (metrics equal scikit-learn,
the confusion matrix, slices by an extra column, error links that open Attribution with the text and class),
label words on a masked LM, hostile files, the embedding map and the model cards."""

from __future__ import annotations

import urllib.parse

import numpy as np
import pytest
from helpers import chart_specs, open_page, plotly_array
from sklearn.metrics import confusion_matrix, f1_score

import ui.bias
from plm_core.inference import class_labels
from plm_core.loading import ModelSpec, load_model

TEXTS = ["good movie", "bad film", "a great book", "awful plot", "fun story", "boring acting", "loved it",
         "hated the film"]



def settle(at):
    """Wait for the run's worker thread (plm_core.bias.worker, issue 25), then rerun: the page shows what it stored."""
    from plm_core.bias import worker

    assert worker.wait_all(180)
    at.run()
    return at

def labelled_csv(labels) -> str:
    lines = ["text,label,source"] + [f"{t},{labels[i % 2]},{'ab'[i % 3 == 0]}" for i, t in enumerate(TEXTS)]
    return "\n".join(lines) + "\n"


def table_with(at, column: str):
    """The first data frame on screen with ``column``."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def upload_page(app_factory, model_dir):
    at = open_page(app_factory, model_dir, "pages/evaluate.py")
    at.radio(key="evaluate.data").set_value("upload").run()
    return at


def test_upload_scores_a_stored_run_with_metrics_confusion_slices_and_links(app_factory, tiny_dirs):
    labels = class_labels(load_model(ModelSpec(str(tiny_dirs["classifier"]), device="cpu")))
    at = upload_page(app_factory, tiny_dirs["classifier"])
    at.file_uploader(key="evaluate.upload").set_value(("mine.csv", labelled_csv(labels).encode(), "text/csv")).run()
    assert not at.exception and not at.error
    settle(at.button(key="evaluate.run").click().run())
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    run = ui.bias.run_store().runs("evaluate")[0]
    assert run.complete
    res = ui.bias.stored_result(run.run_id)
    gold = [labels[i % 2] for i in range(len(TEXTS))]
    pred = [r.predicted for r in res.rows]
    np.testing.assert_array_equal(res.metrics().confusion, confusion_matrix(gold, pred, labels=list(labels)))
    assert res.metrics().get("f1", "macro").value == pytest.approx(f1_score(gold, pred, average="macro"))
    figs = chart_specs(at)
    heat = next(f for f in figs if f["data"][0]["type"] == "heatmap")
    np.testing.assert_array_equal(plotly_array(heat["data"][0]["z"]), confusion_matrix(gold, pred, labels=list(labels)))
    assert at.selectbox(key="evaluate.slice").options == ["source"]
    assert at.selectbox(key="evaluate.runs.pick").options == [run.describe()]  # stored: open or resume it
    errors = table_with(at, "Attribution") if res.errors() else None
    if errors is not None:
        link = errors.iloc[0]["Attribution"]
        q = urllib.parse.parse_qs(link.split("?", 1)[1])
        first = res.errors()[0]
        assert link.startswith("attribution?") and q["attribution.text"] == [first.text]
        assert q["attribution.class"] == [first.predicted] and q["model"] == [str(tiny_dirs["classifier"])]


def test_label_words_on_a_masked_lm(app_factory, tiny_dirs):
    at = upload_page(app_factory, tiny_dirs["masked_lm"])
    at.file_uploader(key="evaluate.upload").set_value(
        ("m.csv", labelled_csv(["positive", "negative"]).encode(), "text/csv")).run()
    assert at.radio(key="evaluate.mode").options == ["Label words (zero-shot)", "(Pseudo-)perplexity per sentence"]
    at.text_area(key="evaluate.label_words").input("positive: great\nnegative: terrible").run()
    settle(at.button(key="evaluate.run").click().run())
    assert not at.exception and not at.error
    res = ui.bias.stored_result(ui.bias.run_store().runs("evaluate")[0].run_id)
    assert res.rows[0].prompt == "good movie It was [MASK]."
    at.text_area(key="evaluate.label_words").input("positive: zzzqx\nnegative: terrible").run()
    assert any("tokens for this tokenizer" in e.value for e in at.error)


HOSTILE = [b"", b"\xff\xfe\x00garbage", b"sentence,label\na,b\n", "text,label\n**bold** [x](http://e.com) <b>$x$</b>,"
           "pos\n=HYPERLINK(1),neg\n".encode()]


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_files_get_clear_messages_and_no_markup(app_factory, tiny_dirs, payload):
    at = upload_page(app_factory, tiny_dirs["classifier"])
    at.file_uploader(key="evaluate.upload").set_value(("h.csv", payload, "text/csv")).run()
    assert not at.exception
    for el in [*at.markdown, *at.caption, *at.error, *at.info]:
        assert "<b>" not in el.value and "](http" not in el.value.replace("\\]", "")
    if payload in HOSTILE[:3]:
        assert at.error and any(w in at.error[0].value for w in ("empty", "UTF", "lacks"))


def test_embedding_map_and_model_cards(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/evaluate.py")
    at.radio(key="evaluate.view").set_value("map").run()
    assert not at.exception and not at.error
    at.radio(key="evaluate.map.source").set_value("words").run()
    assert not at.exception and any("is 4 tokens" in c.value for c in at.caption)  # "king": left out, with why
    at.text_area(key="evaluate.map.words").input("man\nwoman\nboy\ngirl\ncat\ndog").run()
    for box, word in zip("abc", ("man", "woman", "girl")):
        at.text_input(key=f"evaluate.analogy.{box}").input(word)
    at.run()
    assert not at.exception and not at.error
    assert len(table_with(at, "neighbour")) == 5
    at.radio(key="evaluate.view").set_value("cards").run()
    assert not at.exception
    table = table_with(at, "")
    handle = load_model(ModelSpec(str(tiny_dirs["masked_lm"]), device="cpu"))
    row = table[table[""] == "parameters (M)"]
    assert row[str(tiny_dirs["masked_lm"])].iloc[0] == f"{sum(p.numel() for p in handle.model.parameters()) / 1e6:.1f}"


def test_lesson5_shows_heldout_metrics_and_opens_evaluate_on_the_trained_classifier(app_factory, tiny_dirs, tmp_path,
                                                                                    monkeypatch):
    from plm_core.lessons.content import LESSONS

    monkeypatch.setenv("PLM_TRAINED_DIR", str(tmp_path / "trained"))
    label = f"5. {LESSONS[4].title('en')}"
    at = open_page(app_factory, tiny_dirs["encoder"], "pages/lessons.py", {"lessons.lesson": label, "lessons.step": "2",
                                                                           "lessons.reveal.5.2": "true", "lessons.reveal.5.3": "true"})
    heat = [f for f in chart_specs(at) if f["data"][0]["type"] == "heatmap"]
    assert heat, (at.session_state["lessons.step"], [m.value[:80] for m in at.markdown], [e.value for e in at.error],
                  [f["data"][0]["type"] for f in chart_specs(at)])
    assert plotly_array(heat[0]["data"][0]["z"]).sum() == 40  # every example predicted once, held out
    at.button(key="lessons.next").click().run()
    at.button(key="lessons.save").click().run()
    folder = at.session_state["model.spec"].model_id
    at.button(key="lessons.open_evaluate").click().run()
    assert not at.exception and at.radio(key="evaluate.data").value == "lesson"
    at.switch_page("pages/evaluate.py").run()  # AppTest follows a script's page switch for one run only
    assert at.radio(key="evaluate.mode").value == "classifier"
    settle(at.button(key="evaluate.run").click().run())
    assert not at.exception and not at.error
    run = ui.bias.run_store().runs("evaluate")[0]
    assert run.model_id == folder and run.complete and run.n_items == 40
    assert [f for f in chart_specs(at) if f["data"][0]["type"] == "heatmap"]


def test_evaluate_page_in_chinese(app_factory, tiny_dirs):
    from i18n_screen import english_on_screen, screen_texts

    from plm_core.i18n import set_language

    set_language("zh")  # AppTest formats widget options in the test's own thread
    try:
        at = app_factory(str(tiny_dirs["classifier"]), {"lang": "zh"})
        at.run()
        at.switch_page("pages/evaluate.py").run()
        at.radio(key="evaluate.data").set_value("upload").run()
        at.file_uploader(key="evaluate.upload").set_value(
            ("m.csv", labelled_csv(class_labels(load_model(ModelSpec(str(tiny_dirs["classifier"]), device="cpu"))))
             .encode(), "text/csv")).run()
        settle(at.button(key="evaluate.run").click().run())
        for view in ("metrics", "map", "cards"):
            at.radio(key="evaluate.view").set_value(view).run()
            assert not at.exception, at.exception
            found = english_on_screen(screen_texts(at))
            assert not found, f"{view}: " + "; ".join(f"{m!r} in {w!r}" for m, w in found[:8])
    finally:
        set_language("en")


def test_hostile_text_in_every_box_of_the_page_stays_literal(app_factory, tiny_dirs):
    from hostile_ui import FRAGMENTS, markup_problems

    hostile = " ".join(FRAGMENTS[:12]).replace("\n", " ")
    rows = "text,label,zq" + "\n" + "".join(f"{f.replace(',', ' ').replace(chr(10), ' ')},{'ab'[i % 2]},{f[:5]}\n"
                                             for i, f in enumerate(FRAGMENTS))
    at = upload_page(app_factory, tiny_dirs["masked_lm"])
    at.file_uploader(key="evaluate.upload").set_value(("zq<b>x</b>.csv", rows.encode(), "text/csv")).run()
    at.text_input(key="evaluate.template").input(hostile + " {text} {mask}").run()
    at.text_area(key="evaluate.label_words").input(f"a: {hostile}\nb: great").run()
    assert not at.exception and not markup_problems(at), markup_problems(at)
    at.text_area(key="evaluate.label_words").input("a: great\nb: terrible").run()
    settle(at.button(key="evaluate.run").click().run())
    assert not at.exception and not markup_problems(at), markup_problems(at)
    at.radio(key="evaluate.view").set_value("map").run()
    at.selectbox(key="evaluate.map.color").set_value("zq").run()
    assert not at.exception and not markup_problems(at), markup_problems(at)
    at.radio(key="evaluate.map.source").set_value("words").run()
    at.text_area(key="evaluate.map.words").input("\n".join(FRAGMENTS)).run()
    assert not at.exception and not markup_problems(at), markup_problems(at)
    at.text_area(key="evaluate.map.words").input("man\nwoman\nboy\ngirl").run()
    for box in "abc":
        at.text_input(key=f"evaluate.analogy.{box}").input(hostile)
    at.run()
    assert not at.exception and not markup_problems(at), markup_problems(at)


def test_a_link_reopens_the_map_view_and_an_error_link_opens_attribution(app_factory, tiny_dirs):
    query = {"evaluate.view": "Embedding map", "evaluate.map.source": "words (input embedding table)",
             "evaluate.map.words": "man\nwoman\nboy\ngirl\ncat", "evaluate.analogy.a": "boy",
             "evaluate.analogy.b": "man", "evaluate.analogy.c": "woman", "evaluate.map.point": "3: girl"}
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/evaluate.py", query)
    assert at.radio(key="evaluate.view").value == "map" and at.radio(key="evaluate.map.source").value == "words"
    assert at.selectbox(key="evaluate.map.point").value == 3 and at.text_input(key="evaluate.analogy.a").value == "boy"
    assert not at.exception and not at.error
    # an error row's Attribution link, opened as a link: the text and the class are filled in
    labels = class_labels(load_model(ModelSpec(str(tiny_dirs["classifier"]), device="cpu")))
    from plm_core import evaluate as ev

    result = ev.EvalResult(str(tiny_dirs["classifier"]), (ev.EvalRow(0, "a <b>bad</b> film", "", labels[0], labels[1],
                                                                     (0.2, 0.8), False, 5, float("nan"), 0),),
                           {"mode": "classifier", "classes": list(labels)}, 1)
    import ui.evaluate

    url = ui.evaluate._explain_links(result, result.rows[0], str(tiny_dirs["classifier"]))["attribution"]
    q = {k: v[0] for k, v in urllib.parse.parse_qs(url.split("?", 1)[1]).items()}
    at = open_page(app_factory, tiny_dirs["classifier"], "pages/attribution.py", q)
    assert at.text_area(key="attribution.text").value == "a <b>bad</b> film"
    assert at.selectbox(key="attribution.class").value == labels[1]
