"""Lessons: guided walks through how pretrained language models work, computed live from the loaded model.

Step navigation, predict-then-reveal questions, English/中文, a presenter view (?lessons.presenter=true) and
shareable links (the address bar: every input is bound to the URL). The shell lives in ui/lesson_shell.py, the views
in ui/lesson_views/ (one module per lesson), the computations in plm_core.lessons.
"""

import ui.preload  # noqa: F401  first: a page opened by its URL runs without app.py (see ui/preload.py)

from ui import lesson_shell

lesson_shell.render_page()
