"""Identity engine: normalize and SHA-256 Meta customer-file keys.

Rules per key, with sources and where fbsync differs from Meta's Python SDK:
``docs/identity.md``.  What fbsync knows about each key (hashed, identifying…): the
registry :mod:`fbsync.identity.keys`.  Imports only the standard library and ``phonenumbers``.
"""

from fbsync.identity import keys
from fbsync.identity.batch import HashedBatch, hash_batch
from fbsync.identity.dates import split_date
from fbsync.identity.mask import mask
from fbsync.identity.normalize import KEYS, UNHASHED_KEYS, hash_one, normalize
from fbsync.identity.parallel import Engine, hash_batch_parallel

__all__ = [
    "KEYS",
    "UNHASHED_KEYS",
    "Engine",
    "HashedBatch",
    "hash_batch",
    "hash_batch_parallel",
    "hash_one",
    "keys",
    "mask",
    "normalize",
    "split_date",
]
