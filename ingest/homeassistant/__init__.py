"""Home Assistant connector: entity states from the REST API (`/api/states`) with a long-lived token."""
