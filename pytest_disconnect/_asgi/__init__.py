"""The ASGI side of one exchange: the request, the synthetic channel, server profiles, triggers, lifespan, routes."""
