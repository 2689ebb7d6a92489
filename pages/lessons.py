"""Lessons: guided walks through how pretrained language models work, computed live from the loaded model.

Step navigation, predict-then-reveal questions, English/中文, a presenter view (?lessons.presenter=true) and
shareable links (the address bar: every input is bound to the URL). The views live in ui/lessons.py; the computations in plm_core.lessons.
"""

import ui.preload  # noqa: F401  first: a page opened by its URL runs without app.py (see ui/preload.py)

from ui import lessons

lessons.render_page()
