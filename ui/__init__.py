"""The Streamlit layer: cached resources and reusable widgets (the only package that imports streamlit)."""

# Imported here, while the first script run imports `ui` (every page does, first; other sessions' runs wait on the
# import lock of `ui` meanwhile): pandas is otherwise imported lazily by st.dataframe/st.table in whichever session
# draws one first, and two sessions doing that at once could see it half-initialised ("partially initialized module
# 'pandas' has no attribute 'Series'", seen with 5 simulated students, benchmarks/load_client.py).
import pandas  # noqa: F401,E402

# Live text inputs commit after this pause in typing (Enter commits at once). Key press → updated chart on the
# masking lab is this pause + ~130 ms on a 2-core laptop that also runs the browser (bench_masking_browser.py).
LIVE_PAUSE = "100ms"

