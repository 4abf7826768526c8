"""smartfed: federated anomaly detection for smart buildings."""

import os

# Ray reads this once, when it is first imported: set, a local cluster's listeners bind to
# 127.0.0.1 rather than every interface. Setting it here puts it before any import of ray that
# goes through smartfed; start_ray refuses to start a cluster if ray came in first without it.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
