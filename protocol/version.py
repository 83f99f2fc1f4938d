"""Versions of batchd and of its wire protocol.

`PROTOCOL_VERSION` changes whenever any message, field or envelope rule changes: peers decode
strictly (an unknown field is an error), so two protocol versions never talk to each other; the
handshake says so plainly instead.
"""

from typing import Final

BATCHD_VERSION: Final = "0.1.0"
PROTOCOL_VERSION: Final = 1
