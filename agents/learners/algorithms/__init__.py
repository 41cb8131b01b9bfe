"""One module per learner kind: ``train(run)`` (trained kinds), ``load_agent(spec, files, envs)``
and, for kinds saved through ``storage``, ``blueprint(spec, algo_overrides)`` (see
:mod:`banana_grasp.agents.learners.registry`)."""
