"""Helpers the tests share, by role (fixtures live in the conftest.py files)."""
