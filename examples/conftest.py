"""Fixtures for the example tests: cello.testing's plugin, named explicitly.

Installed, cello-grpc registers the plugin with pytest by itself (entry point `pytest11`);
naming it here also works from a plain checkout and with plugin autoloading disabled.
"""

pytest_plugins = ["cello.testing"]
