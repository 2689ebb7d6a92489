"""Issue 24, item 5: content a class notices, checked on the rendered pages (AppTest on tiny models)."""

from __future__ import annotations

from helpers import chart_specs, lesson_query, open_page, shown


def _chart(at, title_start: str) -> dict:
    return next(f for f in chart_specs(at) if f["layout"]["title"]["text"].startswith(title_start))


def test_lesson_1_3_similarity_heatmaps_have_no_query_key_axes(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/lessons.py", lesson_query(1, 3, reveal=True))
    assert not at.exception, at.exception
    for title, axis in (("Cosine similarity of position rows", "position"), ("Cosine similarity of token rows", "token")):
        layout = _chart(at, title)["layout"]
        assert layout["xaxis"]["title"]["text"] == layout["yaxis"]["title"]["text"] == axis
        assert "query" not in str(layout) and "key (attended to)" not in str(layout)


def test_lesson_3_2_says_which_dimensions_it_shows(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/lessons.py", lesson_query(3, 2, reveal=True))
    hidden = at.session_state["model.spec"]  # the tiny BERT: 32 hidden dimensions, all shown
    assert hidden is not None and not at.exception
    titles = [f["layout"]["title"]["text"] for f in chart_specs(at)]
    assert any(t.startswith("concatenated heads") for t in titles) and not any("dimensions 0–" in t for t in titles)
    at = open_page(app_factory, "embedded", "pages/lessons.py", lesson_query(3, 2, reveal=True))  # 384 dimensions
    titles = [f["layout"]["title"]["text"].replace("<br>", "") for f in chart_specs(at)]
    assert any("concatenated heads" in t and "dimensions 0–63 of 384" in t for t in titles), titles


def test_lesson_6_names_the_sentence_its_similarity_is_taken_with(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["encoder"], "pages/lessons.py", lesson_query(6, 1, reveal=True))
    assert not at.exception, at.exception
    assert any("“This is a great film.”" in shown(c.value) for c in at.caption), [shown(c.value) for c in at.caption]


def test_boolean_cells_are_translated(app_factory, tiny_dirs):
    from plm_core.i18n import set_language

    set_language("zh")  # AppTest formats widget options in the test's own thread
    try:
        at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/lessons.py",
                       lesson_query(4, 2, lang="zh", reveal=True))
    finally:
        set_language("en")
    assert not at.exception, at.exception
    cells = " ".join(str(v) for t in at.table for v in t.value.to_numpy().ravel())
    assert ("是" in cells or "否" in cells) and "True" not in cells and "False" not in cells, cells


def test_compare_token_table_has_a_header_and_says_what_an_encoder_explains(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["encoder"], "pages/compare.py", {"compare.attr": "true"})
    assert not at.exception, at.exception
    table = at.dataframe[0]
    assert list(table.value.columns) == ["A", "B", "match"]
    assert any("has no output of its own" in shown(c.value) for c in at.caption)
    assert any("target: cosine similarity of A and B" in f["layout"]["title"]["text"].replace("<br>", "")
               for f in chart_specs(at))
    assert not any("same target" in shown(t.label) for t in at.toggle)
