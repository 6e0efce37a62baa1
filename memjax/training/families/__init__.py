"""The model families the one loop trains (`memjax.training.registry` maps `config.experiment`
to them): `algorithmic.py` (copy, repeat copy, associative recall, priority sort; any core),
`language_model.py` (`char_lm` on text and `long_range` recall: segment models or any core),
`kbqa.py` (KB question answering), `graph.py` (the DNC paper's graph tasks: any core or a
key-value memory), `babi_memnn.py` (MemN2N, KV-MemNN; one step = one epoch) and
`babi_recurrent.py` (bAbI word by word for any core).
"""
