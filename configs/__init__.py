"""ml_collections configs, one file per task/model pair; each docstring gives its run command.

Variants import the config they vary (`from configs import copy_ntm`) and read their
`--config=<file>.py:<arg>` argument with `configs.common.parse_arg`.
"""
