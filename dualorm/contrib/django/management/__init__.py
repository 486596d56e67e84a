"""Management commands of :mod:`dualorm.contrib.django`."""
