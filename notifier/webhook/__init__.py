"""Generic webhooks speaking Alertmanager's v4 payload."""
