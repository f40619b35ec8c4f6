"""genailab: Python client for genailab-server (genailab.v1.GenerativeService).

See genailab.client.Client for the API and genailab.errors for the exceptions; `python3 -m genailab --help`
lists the command-line tools (health check, figure report).
"""
from genailab.client import Client, EncodeResult
from genailab.errors import (Aborted, AlreadyExists, Cancelled, DataLoss, DeadlineExceeded, FailedPrecondition,
                             GenailabError, Internal, InvalidArgument, NotFound, OutOfRange, PermissionDenied,
                             ResourceExhausted, Unauthenticated, Unavailable, Unimplemented, Unknown)

__all__ = [
    "Aborted", "AlreadyExists", "Cancelled", "Client", "DataLoss", "DeadlineExceeded", "EncodeResult",
    "FailedPrecondition", "GenailabError", "Internal", "InvalidArgument", "NotFound", "OutOfRange",
    "PermissionDenied", "ResourceExhausted", "Unauthenticated", "Unavailable", "Unimplemented", "Unknown",
]
