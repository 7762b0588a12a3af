"""kamaki.clients as Galaxy's Pithos+ store imports it: `Client`, `ClientError`, `astakos`,
`pithos` and `utils` (galaxy/objectstore/pithos.py: `from kamaki.clients import astakos,
Client as KamakiClient, ClientError, pithos, utils`). Only that subset is here."""

from kamaki.clients import astakos, pithos, utils
from kamaki.clients._base import Client, ClientError

__all__ = ["Client", "ClientError", "astakos", "pithos", "utils"]
