"""The Surge browser app: watch one run month by month, with its phases as they emerge.

`surge app` serves :mod:`surge_app.page` with Solara; :mod:`surge_app.live` holds what the
page shows as plain functions, testable without a browser.
"""
