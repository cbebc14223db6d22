"""The HTTP edge: the gateway and proxy, problem details, access checks, idempotent
requests, body limits, paging, saga routes and serving with uvicorn."""
