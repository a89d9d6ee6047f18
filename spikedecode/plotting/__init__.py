"""Figures. One module per family; every function returns a ``matplotlib.figure.Figure``.

matplotlib is imported only when a plotting function is called.
"""
