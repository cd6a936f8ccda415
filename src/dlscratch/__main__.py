"""``python -m dlscratch``: the same as the ``dlscratch`` command."""

from .cli import main

raise SystemExit(main())
