"""Build script for fbsync's one optional C module; everything else is in pyproject.toml.

fbsync.identity._fasthash hashes whole columns through OpenSSL (docs/identity.md, "Speed"), and
fingerprints and encrypts the state store's rows a chunk at a time (fbsync.state.crypto.RowCipher.pairs).
It needs a C compiler and OpenSSL's headers (Debian: gcc, libssl-dev); when either is
missing the build of this module is skipped (``optional=True``), the install succeeds, and
fbsync hashes with hashlib, with identical results (``fbsync doctor`` says which one runs).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("fbsync.identity._fasthash", sources=["fbsync/identity/_fasthash.c"],
                  libraries=["crypto"], optional=True),
    ],
)
