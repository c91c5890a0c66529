"""The viewer's static pages and files (viewer/), served by the relay."""

from __future__ import annotations

from aiohttp import web

from pantau.runtime.paths import VIEWER_DIR

routes = web.RouteTableDef()


def _page(name: str):
    async def handler(request: web.Request) -> web.FileResponse:
        return web.FileResponse(VIEWER_DIR / name, headers={"Cache-Control": "no-cache"})

    return handler


routes.get("/kamera/{id}")(_page("station.html"))
routes.get("/tps/{id}")(_page("station.html"))
routes.get("/")(_page("index.html"))
routes.get("/wall")(_page("wall.html"))
routes.get("/kecamatan/{code}")(_page("kecamatan.html"))
routes.get("/admin")(_page("admin.html"))
routes.get("/kirim/{id}")(_page("kirim.html"))
routes.static("/viewer", VIEWER_DIR, append_version=False)
