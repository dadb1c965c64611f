"""The ground floor: shared domain and plumbing that every stage may import and that imports no stage.

Stages (`ingest`, `streams`, `sinks`, `notifier`, `api`) import `kernel` and `schemas`, never each
other; the composition root (`infra`: CLI, `vigil up`, the embedded stack) sits on top.
"""
