"""Variation operators, random generation and their numba kernels (``csp.operators``)."""
