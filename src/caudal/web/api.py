"""The dashboard's router: sign-in, pages, the live stream and the shipped assets."""

from __future__ import annotations

from fastapi import APIRouter

from caudal.web import assets, explorer, ledger_page, login, pages, pipelines_page, stream

router = APIRouter()
router.include_router(assets.router)
router.include_router(login.router)
router.include_router(stream.router)
router.include_router(explorer.router)
router.include_router(ledger_page.router)
router.include_router(pipelines_page.router)
router.include_router(pages.router)
