"""Model versions: what one holds (:mod:`.model`), its files (:mod:`.layout`), and the
stores that publish and load them (:mod:`.store`).

Training writes a :class:`Model`; serving loads one. Neither needs the other's code:
a version is plain arrays and a manifest.
"""

from .layout import ARRAYS, FORMAT, MANIFEST, ArraySpec, load_version, verify_version, write_version
from .model import Model, with_manifest, with_version
from .store import POINTER, ModelStore, VersionStore, iter_manifests, new_version_name

__all__ = [
    "ARRAYS",
    "FORMAT",
    "MANIFEST",
    "POINTER",
    "ArraySpec",
    "Model",
    "ModelStore",
    "VersionStore",
    "iter_manifests",
    "load_version",
    "new_version_name",
    "verify_version",
    "with_manifest",
    "with_version",
    "write_version",
]
