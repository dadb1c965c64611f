"""Response and body shapes of the HTTP API, one module per resource (api/routes/<resource>.py).

Callers import from the resource's module (`from api.models.alerts import AlertPage`); this package
re-exports nothing. Storage rows are mapped onto these; input shapes are distinct classes.
"""
