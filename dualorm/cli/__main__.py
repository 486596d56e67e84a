"""``python -m dualorm.cli``: the same as the ``dualorm`` console script."""

from dualorm.cli import main

raise SystemExit(main())
