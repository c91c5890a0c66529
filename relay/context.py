"""Typed keys for what the aiohttp app carries."""

from aiohttp import web

from pantau.config import Settings
from pantau.registry import Registry
from pantau.stream_bus import StreamBus
from relay.listing_json import ListingJson
from relay.region_counts import RegionTreeCache
from relay.viewer_sessions import ViewerSessions
from relay.wall_summary import WallSummary

REGISTRY = web.AppKey("registry", Registry)
SETTINGS = web.AppKey("settings", Settings)
REGION_TREES = web.AppKey("region_trees", RegionTreeCache)
LISTING_JSON = web.AppKey("listing_json", ListingJson)
BUS = web.AppKey("bus", StreamBus)
SESSIONS = web.AppKey("viewer_sessions", ViewerSessions)
WALL = web.AppKey("wall_summary", WallSummary)
VIEWERS = web.AppKey("viewer_counts", object)  # LocalViewerCounts | SiteViewerCounts
