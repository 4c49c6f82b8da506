"""One scenario from start to verdict: drive the app, let the client leave, wait for the work to stop."""
