"""How the CAPA service is driven: the faust worker, the HTTP API and the command line."""
