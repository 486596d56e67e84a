"""Django integration: add ``"dualorm.contrib.django"`` to ``INSTALLED_APPS`` to get
``python manage.py dualmigrate up|down|status|plan|baseline``."""
