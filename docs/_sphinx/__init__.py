"""Build helpers for the documentation site (imported by ``docs/conf.py`` and tests)."""
