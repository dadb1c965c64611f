"""One APIRouter per resource; `ROUTERS` is the list main.py includes."""

from api.routes import alerts, health, metrics, rules

ROUTERS = [health.router, alerts.router, metrics.router, rules.router]
