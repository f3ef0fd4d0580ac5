"""The HTTP routes of the API, one module per area; each ``*_routes()`` returns handlers."""
