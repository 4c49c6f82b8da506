"""Time for a scenario: the loop's own clock or the virtual one, and what keeps it honest."""
