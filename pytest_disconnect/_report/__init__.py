"""What a person and CI read: the text report, the run summary, JSON, GitHub annotations, the baseline."""
