"""Slack incoming webhooks (and anything that speaks their JSON: Mattermost, Rocket.Chat, …)."""
