"""MySQL DDL and reporting views, numbered files applied in order (shipped as package data)."""
