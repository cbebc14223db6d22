"""Who may call what in the product service: every rule in one place.

* Catalogue reads (categories, products, images, reviews) are public: no token.
* ``catalog:write`` (admins): categories, products, images and prices.
* ``stock:write`` (admins, and the order service's saga): stock levels, reservations.
* ``reviews:write`` (customers and admins): one's own review of a product, through
  ``…/reviews/me``; ``reviews:moderate`` (admins) may delete anyone's.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from isles import Principal, Problem, require

WriteCatalog = Annotated[Principal, Depends(require("catalog:write"))]
WriteStock = Annotated[Principal, Depends(require("stock:write"))]
WriteReviews = Annotated[Principal, Depends(require("reviews:write"))]


def reviewer(caller: Principal) -> uuid.UUID:
    """The user whose own review ``caller`` writes (a user token only)."""
    if caller.user_id is None:
        raise Problem(403, "only a user has reviews of their own: log in as one", slug="forbidden")
    return caller.user_id


def may_moderate(caller: Principal) -> bool:
    return caller.can("reviews:moderate")
