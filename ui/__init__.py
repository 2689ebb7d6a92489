"""The Streamlit layer: cached resources and reusable widgets (the only package that imports streamlit)."""
