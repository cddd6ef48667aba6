"""Test doubles for simapi_async: the emulator and the pytest plugin (in progress)."""
