"""The hub's web pages and endpoints (aiohttp): agency link pages, the published keys,
health. Build the application with :func:`hub.web.app.build_app`; run it beside intake
with :func:`hub.web.app.run_web`. Nothing else in the hub imports this package."""
