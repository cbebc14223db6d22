"""A route's way to its service: ``rt: Context`` (or ``context_of(request)``) is the
:class:`~isles.service.context.ServiceContext` of the service whose app got the
request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from isles.service.context import ServiceContext


def context_of(request: Request) -> ServiceContext:
    """The context of the service whose app received ``request``."""
    context: ServiceContext = request.app.state.context
    return context


Context = Annotated[ServiceContext, Depends(context_of)]
