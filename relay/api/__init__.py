"""The relay's JSON API: public listing, admin, alerts, sessions, OpenAPI."""
