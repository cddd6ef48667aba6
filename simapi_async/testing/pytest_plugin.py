"""pytest plugin of simapi_async (fixtures arrive with the emulator)."""
