"""What a service is: its declaration (tables, routes, events, handlers, replicas,
sagas, workers) and what its code sees while it runs (:class:`ServiceContext`)."""
