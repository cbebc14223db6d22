"""``python -m isles.cli``: the ``isles`` command."""

from isles.cli.entry import main

main()
