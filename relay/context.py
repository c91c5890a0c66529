"""Typed keys for what the aiohttp app carries."""

from aiohttp import web

from pantau.config import Settings
from pantau.registry import Registry
from relay.region_counts import RegionTreeCache

REGISTRY = web.AppKey("registry", Registry)
SETTINGS = web.AppKey("settings", Settings)
REGION_TREES = web.AppKey("region_trees", RegionTreeCache)
