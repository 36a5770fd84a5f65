"""Delivery: the durable outbox, its workers, the real-time intake server."""
