"""The networks the learner kinds share: banana attention (:mod:`.objects`), the pixel actor,
the state critic and the pixel LSTM policy (:mod:`.pixels`)."""
