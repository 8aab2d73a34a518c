"""Settings shared by every test directory."""

import os

from hypothesis import settings

# On CI (CI=true) property tests run a fixed sequence of examples, so a landing never depends on luck; on a
# developer's machine they keep exploring new random examples (and remember failures in .hypothesis/).
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
