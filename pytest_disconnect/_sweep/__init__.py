"""The sweep: every route of an app, requests generated, disconnect moments searched."""
