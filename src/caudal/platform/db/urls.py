"""Derive the owner and application connection strings from settings."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from caudal.platform.settings import Settings


def app_url(settings: Settings, owner_url: str) -> str:
    """The URL of the application role: configured, or the owner URL with another user."""
    if settings.database_app_url is not None:
        return settings.database_app_url.get_secret_value()
    params = conninfo_to_dict(owner_url)
    params["user"] = settings.database_app_role
    params.pop("password", None)
    if settings.database_app_password is not None:
        params["password"] = settings.database_app_password.get_secret_value()
    return make_conninfo("", **params)


def describe(url: str) -> str:
    """A URL safe to print: host, port, database and user, never the password."""
    params = conninfo_to_dict(url)
    host = params.get("host", "localhost")
    port = params.get("port", "5432")
    return f"postgresql://{params.get('user', '')}@{host}:{port}/{params.get('dbname', '')}"
