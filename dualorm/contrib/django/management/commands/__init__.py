"""``manage.py dualmigrate``."""
