"""ml_collections configs, one file per task/model pair; each docstring gives its run command.

Variants import the config they vary (`from configs import copy_ntm`) and read their
`--config=<file>.py:<arg>` argument with `memjax.config_helpers.parse_arg`
(`configs.common` re-exports it). The configs live in the checkout, not in the installed
package; `memjax-train --config=/path/to/checkout/configs/copy_ntm.py` loads them from any folder.
"""
