"""``python -m dualorm``: the same as the ``dualorm`` console script."""

from dualorm.cli import main

raise SystemExit(main())
