"""The notifier: notifications → PagerDuty Events v2, Slack and Alertmanager-style webhooks, once each."""
