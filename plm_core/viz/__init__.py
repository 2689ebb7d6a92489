"""Figures and HTML for the pages: plotly figures and offline bertviz views, from core result types."""
