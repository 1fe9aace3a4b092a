"""Audit-trail adapters: Kafka reading and writing, Ed25519 keys."""
