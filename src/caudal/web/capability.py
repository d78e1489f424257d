"""The dashboard as a capability: its router (sign-in, pages, the live stream, assets)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from caudal.platform.capability import CapabilityBase

if TYPE_CHECKING:
    from fastapi import APIRouter


class WebCapability(CapabilityBase):
    name = "web"
    migrations = "caudal.web"

    def routers(self) -> Sequence[APIRouter]:
        from caudal.web.api import router

        return [router]
