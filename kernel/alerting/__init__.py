"""The alerting config every stage reads: routes, receivers and their templates, silences, time intervals, on-call.

The streams worker routes and silences with it, the notifier delivers to its receivers, the API
validates and serves it; none of them imports another for it.
"""
