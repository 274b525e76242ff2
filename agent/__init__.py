"""smartcron-agent (not built yet; see DESIGN.md)."""
