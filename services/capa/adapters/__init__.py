"""Concrete adapters of the CAPA service: codecs, token auth, the table read store, HTTP client."""
