"""Tools that work on a whole system's data from outside its running services:
splitting a monolith onto the services' databases (:mod:`isles.tools.split`), backing
up and restoring each service's database (:mod:`isles.tools.backup`). They read the
services' declarations (``isles.service``) and their databases (``isles.storage``); the
command line (``isles split``, ``isles backup``, ``isles restore``) is their face."""
