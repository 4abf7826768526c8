"""Every data source of smartfed: simulated buildings and networks, UCI Appliances, CSV files.

All of them hand back ``SiteSeries``; ``load_sites`` picks the source.
"""

from smartfed.data.buildings import SENSOR_FEATURES
from smartfed.data.errors import DataError
from smartfed.data.faults import FAULT_KINDS
from smartfed.data.loader import available_sites, load_sites
from smartfed.data.networks import ATTACK_KINDS, NETWORK_FEATURES
from smartfed.data.series import Episode, SiteSeries

__all__ = [
    "ATTACK_KINDS",
    "FAULT_KINDS",
    "NETWORK_FEATURES",
    "SENSOR_FEATURES",
    "DataError",
    "Episode",
    "SiteSeries",
    "available_sites",
    "load_sites",
]
