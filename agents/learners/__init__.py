"""Learner kinds: how each is trained, saved, loaded and adapted (one module per kind,
one registry in :mod:`~banana_grasp.agents.learners.registry`)."""
