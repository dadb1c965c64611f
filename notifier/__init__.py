"""The notifier: notifications → receivers (Slack-compatible webhooks), once each, with retries."""
