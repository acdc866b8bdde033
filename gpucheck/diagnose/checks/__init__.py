"""Checks, one module per layer; each registers its checks with ``@check`` (see ``diagnose/registry.py``)."""
