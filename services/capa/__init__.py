"""CAPA service: event-sourced corrective and preventive actions (ISO 9001:2015 §10.2)."""
