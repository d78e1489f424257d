"""The dashboard: server-rendered pages over every capability, a live overview, browser sessions."""
