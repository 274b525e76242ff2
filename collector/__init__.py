"""smartcron-collector (not built yet; see DESIGN.md)."""
