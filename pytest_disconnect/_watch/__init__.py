"""Watching the work a request starts: tasks, threads, processes, marked heavy work, and a watchdog beside the loop."""
