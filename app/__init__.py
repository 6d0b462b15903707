"""The edge: web app, GraphQL, CLI and the one composition root."""
