"""Learners: how each kind is trained, saved, loaded and adapted.

- :mod:`.algorithms`: one module per learner kind (the algorithm, CleanRL-style: PPO, RL^2
  and its recurrent PPO over trials, Reptile, first-order MAML, DAgger, the references);
- :mod:`.policies`: the networks the algorithms share (banana attention, the pixel actor and
  the state critic);
- this package's own modules are the plumbing every kind uses: the registry of kinds and
  learners (:mod:`.registry`), the training loop (:mod:`.training`, :mod:`.meta_training`),
  stopping, checkpoints and resume, storage (loading never runs code), normalisation, the
  learners' envs.
"""
