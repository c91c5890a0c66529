"""Gives each camera this worker runs its reference view, and keeps it current.

A camera's keyframe analyser is attached when its source starts; the next `step()` (the worker
calls it after every registry poll, 0.5 s) reads the references of newly attached cameras and
of those whose reference was set or cleared since the last step (pantau/cameras/reference_views.py),
and reports `reference: true/false` in the camera's status. A failed read leaves the views as
they were; the next step tries again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from pantau.cameras.reference_views import ReferenceViews
from pantau.media.view_signature import ViewSignature


class Judge(Protocol):
    def set_reference(self, reference: ViewSignature | None) -> None: ...


class ReferenceFollower:
    def __init__(self, store: ReferenceViews, report: Callable[[str, bool], None]):
        self._store = store
        self._report = report  # (camera id, has a reference)
        self._judges: dict[str, Judge] = {}
        self._views: dict[str, ViewSignature | None] = {}  # as last read, for the attached cameras
        self._cursor: str | None = None

    def attach(self, camera_id: str, judge: Judge) -> None:
        """A (re)started source's analyser; it gets the view known so far at once."""
        self._judges[camera_id] = judge
        if camera_id in self._views:
            judge.set_reference(self._views[camera_id])

    def detach(self, camera_id: str) -> None:
        """Its source stopped (the view is kept until the next step: a restarted source gets it)."""
        self._judges.pop(camera_id, None)

    async def step(self) -> None:
        for camera_id in [c for c in self._views if c not in self._judges]:
            del self._views[camera_id]  # no longer run here: read afresh if it comes back
        if self._cursor is None:
            cursor, changed = await self._store.last_change(), set()  # the cursor first: no change is missed
        else:
            cursor, changed = await self._store.changes_since(self._cursor)
        wanted = [camera_id for camera_id in self._judges if camera_id not in self._views or camera_id in changed]
        references = await self._store.get_many(wanted)
        self._cursor = cursor
        for camera_id, reference in references.items():
            judge = self._judges.get(camera_id)
            if judge is None:
                continue  # stopped meanwhile
            view = reference.signature if reference else None
            self._views[camera_id] = view
            judge.set_reference(view)
            self._report(camera_id, view is not None)
