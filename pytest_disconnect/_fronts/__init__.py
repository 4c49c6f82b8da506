"""Where tests meet the plugin: the fixture, run() and arun(), DisconnectTransport, the audit, live mode."""
