"""Folium map pages and the vendored web assets they need (served locally, never from a CDN)."""
