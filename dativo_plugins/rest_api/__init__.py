"""The declarative REST API source (`connector: rest_api`) and the HTTP layer of the SaaS connectors."""
