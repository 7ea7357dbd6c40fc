"""The HTTP service: the FastAPI app, authentication, problems, limits, observability."""
