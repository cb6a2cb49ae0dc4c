"""Test support shipped with cellscape: slow reference implementations and hypothesis strategies."""
