"""Benchmarks of simapi_async against hand-written aiohttp and httpx clients (issue 7).

Run ``python -m benchmarks all`` (or ``--quick``); see benchmarks/README.md.
"""
