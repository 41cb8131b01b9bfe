"""MJCF scene and banana mesh of banana-grasp (data only; load with importlib.resources)."""
