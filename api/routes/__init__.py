"""One APIRouter per resource; `ROUTERS` is the list main.py includes behind a key (health and board apart)."""

from api.routes import alerting, alerts, audit, devices, incidents, keys, metrics, rules, silences, stream

ROUTERS = [alerts.router, metrics.router, rules.router, silences.router, incidents.router, keys.router, audit.router,
           devices.router, alerting.router, stream.router]
