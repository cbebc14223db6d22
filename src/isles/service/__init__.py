"""What a service is: its declaration (tables, routes, events, handlers, replicas,
sagas, workers), the system it belongs to, and what its code sees while it runs
(:class:`ServiceContext`)."""
