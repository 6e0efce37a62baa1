"""Re-exports `memjax.config_helpers` (the config argument parser, the shared data folder), so
that `from configs import common` keeps working."""
from memjax.config_helpers import data_dir, parse_arg, renamed_config  # noqa: F401
