"""Typed keys for what the aiohttp app carries."""

from aiohttp import web

from pantau.bus.stream_bus import StreamBus
from pantau.cameras.registry import Registry
from pantau.runtime.config import Settings
from relay.api.listing_json import ListingJson
from relay.live.region_counts import RegionTreeCache
from relay.live.wall_summary import WallSummary
from relay.webrtc.viewer_sessions import ViewerSessions

REGISTRY = web.AppKey("registry", Registry)
SETTINGS = web.AppKey("settings", Settings)
REGION_TREES = web.AppKey("region_trees", RegionTreeCache)
LISTING_JSON = web.AppKey("listing_json", ListingJson)
BUS = web.AppKey("bus", StreamBus)
SESSIONS = web.AppKey("viewer_sessions", ViewerSessions)
WALL = web.AppKey("wall_summary", WallSummary)
VIEWERS = web.AppKey("viewer_counts", object)  # LocalViewerCounts | SiteViewerCounts
