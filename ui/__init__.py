"""The Streamlit layer: cached resources and reusable widgets (the only package that imports streamlit)."""

# Live text inputs commit after this pause in typing (Enter commits at once). Key press → updated chart on the
# masking lab is this pause + ~130 ms on a 2-core laptop that also runs the browser (bench_masking_browser.py).
LIVE_PAUSE = "100ms"
