"""Running a comparison: the job grid (train, evaluate, film), resume, and the run folder."""
