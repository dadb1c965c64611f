"""StatsD / DogStatsD: a pure line parser and a flush-interval aggregator (no sockets here)."""
