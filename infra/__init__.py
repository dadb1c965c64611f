"""Composition root: settings, the embedded stack, process start-up and the `vigil` CLI."""
