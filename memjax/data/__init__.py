"""Datasets: bAbI parser and encoding (babi.py), its TFDS builder (babi_tfds.py), character-level text (text.py)."""
