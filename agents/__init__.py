"""Learners, adaptation, evaluation, statistics and reports of banana-grasp."""
