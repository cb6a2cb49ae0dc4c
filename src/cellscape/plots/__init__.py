"""Figures: matplotlib plots of cellscape's results, one submodule per concept.

Every plot function takes the result it draws first, keyword-only options, and ``ax=None`` (a new figure when
omitted); it returns what it drew (a frozen dataclass of the artists), so a caller can restyle or annotate it.
matplotlib is imported only when a plot is made; without a display it draws with the Agg backend.
"""
