"""The Lessons page's layout (issue 26, item 5): views are found by the view name a step gives, and no module of
the app (ui/, pages/) branches on a lesson's number: what differs between lessons is the lessons' data."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NUMBER_NAMES = {"number", "lesson", "lesson_number"}


def _is_lesson_number(node: ast.AST) -> bool:
    return ((isinstance(node, ast.Attribute) and node.attr == "number")
            or (isinstance(node, ast.Name) and node.id in NUMBER_NAMES))


def _is_int_constant(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int) and not isinstance(node.value, bool)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return bool(node.elts) and all(_is_int_constant(e) for e in node.elts)
    return False


def lesson_number_branches(source: str) -> list[int]:
    """Lines that compare a lesson's number with literal numbers (``lesson.number == 2``, ``number in (2, 3)``)
    or look a behaviour up in a table keyed by literal numbers (``{5: …}.get(lesson.number)``)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
            if any(map(_is_lesson_number, parts)) and any(map(_is_int_constant, parts)):
                lines.append(node.lineno)
        elif isinstance(node, ast.Subscript) and _is_lesson_number(node.slice) and isinstance(node.value, ast.Dict):
            lines.append(node.lineno)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
              and isinstance(node.func.value, ast.Dict) and node.args and _is_lesson_number(node.args[0])
              and all(k is not None and _is_int_constant(k) for k in node.func.value.keys)):
            lines.append(node.lineno)
    return lines


def test_the_detector_finds_the_branches_it_is_for():
    source = ("label = {5: 'a', 7: 'b'}.get(lesson.number, 'c')\n"
              "if lesson.number in (2, 3):\n    pass\n"
              "if number == 2:\n    pass\n"
              "x = {2: 1}[lesson.number]\n"
              "ok = lesson.number == LESSONS[0].number\n")  # navigation by position: not a branch on a number
    assert lesson_number_branches(source) == [1, 2, 4, 6]


def test_no_module_of_the_app_branches_on_a_lesson_number():
    found = {str(path.relative_to(ROOT)): lines
             for path in [*(ROOT / "ui").rglob("*.py"), *(ROOT / "pages").glob("*.py"), ROOT / "app.py"]
             if (lines := lesson_number_branches(path.read_text(encoding="utf-8")))}
    assert not found, found


def test_every_step_has_a_view_record_in_its_lessons_module():
    """Each lesson's views live in ui/lesson_views/<lesson key>.py; the registry is their union, by view name."""
    from plm_core.lessons.content import LESSONS
    from ui import lesson_views

    modules = {m.__name__.rsplit(".", 1)[-1]: m for m in lesson_views.MODULES}
    for lesson in LESSONS:
        assert lesson.key in modules, lesson.key
        for step in lesson.steps:
            assert step.view in modules[lesson.key].VIEWS, (lesson.key, step.view)
            assert lesson_views.VIEWS[step.view] is modules[lesson.key].VIEWS[step.view]
    assert sum(len(m.VIEWS) for m in lesson_views.MODULES) == len(lesson_views.VIEWS)  # no name twice
