"""vre-kamaki-pithos: the part of kamaki.clients that Galaxy's Pithos+ object store uses, for
Python 3. Not kamaki: see the package's README."""

__version__ = "0.1.0"
