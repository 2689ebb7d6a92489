"""Lessons: guided walks through how pretrained language models work, computed live from the loaded model.

Step navigation, predict-then-reveal questions, English/中文, a presenter view (?presenter=1) and shareable
links (?lesson=2&step=3&text=...). The views live in ui/lessons.py; the computations in plm_core.lessons.
"""

from ui import lessons

lessons.render_page()
