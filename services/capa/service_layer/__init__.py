"""CAPA application services: handle commands and source events against ports, no faust here."""
