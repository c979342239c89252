"""The FastAPI application: app factory, middleware and routes."""
