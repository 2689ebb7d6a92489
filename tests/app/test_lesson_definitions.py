"""A lesson's inputs come from its definition (plm_core.lessons.content.Lesson), not from its number: change the
definition and the page follows (issue 26, item 5)."""

from __future__ import annotations

import dataclasses

from helpers import lesson_query
from plm_core.lessons import content


def _open(app_factory, model_dir, monkeypatch, lessons, number):
    from ui import lesson_shell

    monkeypatch.setattr(content, "LESSONS", lessons)  # get_lesson reads it
    monkeypatch.setattr(lesson_shell, "LESSONS", lessons)
    at = app_factory(str(model_dir), query=lesson_query(number, 1))
    at.run()
    at.switch_page("pages/lessons.py").run()
    assert not at.exception, at.exception
    return at


def test_pickers_and_text_label_follow_the_lessons_definition(app_factory, tiny_dirs, monkeypatch):
    first, second = content.LESSONS[0], content.LESSONS[1]
    lessons = (dataclasses.replace(first, inputs=("layer", "head"), text_label=content.T("Sentence to classify")),
               dataclasses.replace(second, inputs=()), *content.LESSONS[2:])
    at = _open(app_factory, tiny_dirs["encoder"], monkeypatch, lessons, 1)
    keys = {s.key for s in at.selectbox}
    assert {"lessons.layer", "lessons.head"} <= keys
    assert at.text_area(key="lessons.text.1").label == "Sentence to classify"

    at = _open(app_factory, tiny_dirs["encoder"], monkeypatch, lessons, 2)  # lesson 2 without its pickers
    assert not {"lessons.layer", "lessons.head"} & {s.key for s in at.selectbox}
    assert at.text_area(key="lessons.text.2").label == "Sentence"


def test_shipped_lessons_draw_the_pickers_their_definitions_name(app_factory, tiny_dirs, monkeypatch):
    for lesson in content.LESSONS[:4]:
        at = _open(app_factory, tiny_dirs["encoder"], monkeypatch, content.LESSONS, lesson.number)
        keys = {s.key for s in at.selectbox} & {"lessons.layer", "lessons.head"}
        assert keys == {f"lessons.{name}" for name in lesson.inputs}, (lesson.number, keys)
        assert at.text_area(key=f"lessons.text.{lesson.number}").label == lesson.text_label("en")
