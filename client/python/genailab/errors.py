"""Exceptions raised by genailab.Client, one class per gRPC status code.

Every RPC failure becomes a subclass of GenailabError; catch the specific class to react to one code (for
example retry on Unavailable, fix the request on InvalidArgument):

    try:
        client.get_model("pbmc")
    except genailab.NotFound:
        ...

The server names the offending field in the message (GenailabError.details).
"""
import grpc


class GenailabError(Exception):
    """An RPC failed. `code` is the grpc.StatusCode, `details` the server's message."""

    code = grpc.StatusCode.UNKNOWN

    def __init__(self, details, code=None):
        super().__init__(details)
        self.details = details
        if code is not None:
            self.code = code

    def __str__(self):
        return f"{self.code.name}: {self.details}"


class Cancelled(GenailabError):
    code = grpc.StatusCode.CANCELLED


class Unknown(GenailabError):
    code = grpc.StatusCode.UNKNOWN


class InvalidArgument(GenailabError):
    """The request is malformed or inconsistent with the model; the message names the field."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceeded(GenailabError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFound(GenailabError):
    """No such model or version."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(GenailabError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(GenailabError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(GenailabError):
    """Too many cells, a message over the size limit, or a full queue: retry later or send less."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(GenailabError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(GenailabError):
    code = grpc.StatusCode.ABORTED


class OutOfRange(GenailabError):
    code = grpc.StatusCode.OUT_OF_RANGE


class Unimplemented(GenailabError):
    """The model does not support this RPC (ModelInfo.supported_rpcs lists those it does)."""

    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(GenailabError):
    code = grpc.StatusCode.INTERNAL


class Unavailable(GenailabError):
    """The server cannot be reached or is shutting down; safe to retry."""

    code = grpc.StatusCode.UNAVAILABLE


class DataLoss(GenailabError):
    code = grpc.StatusCode.DATA_LOSS


class Unauthenticated(GenailabError):
    """The server wants a (different) bearer token or client certificate."""

    code = grpc.StatusCode.UNAUTHENTICATED


_BY_CODE = {cls.code: cls for cls in GenailabError.__subclasses__()}


def from_rpc_error(error):
    """Returns the GenailabError subclass instance for a grpc.RpcError raised by a call."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    cls = _BY_CODE.get(code, GenailabError)
    return cls(details or "", code=code)
