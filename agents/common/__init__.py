"""The bottom layer of banana_grasp.agents: files, the run folder's layout, curves and the
YAML configuration. Nothing here imports stable-baselines3 or torch."""
