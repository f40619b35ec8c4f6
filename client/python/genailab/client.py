"""Client: a small numpy / AnnData API over genailab.v1.GenerativeService.

    import anndata, genailab
    with genailab.Client("127.0.0.1:50051") as client:
        models = client.list_models()
        latent = client.encode(adata, ["cell_type", "batch"], model="pbmc").mean
        cells = client.generate([({"cell_type": "B", "batch": "b0"}, 100)], model="pbmc", seed=1)
        predicted = client.predict_perturbation(adata, "control", "stimulated", ["cell_type"], model="pbmc")

Expression goes in as the AnnData's X (or a named layer), in the model's input space, with genes named by
var_names; the server matches genes by name. Every failed RPC raises the genailab.errors class of its status
code. A Client owns one gRPC channel; it is safe to share between threads (gRPC channels are).
"""
import collections
import json
import os

import anndata
import grpc
import numpy as np
import pandas as pd

from genailab import errors
from genailab import matrices
from genailab.v1 import generative_service_pb2 as pb
from genailab.v1 import generative_service_pb2_grpc as pb_grpc

EncodeResult = collections.namedtuple("EncodeResult", ["mean", "variance"])

_METHODS = {
    "default": pb.PERTURBATION_METHOD_DEFAULT,
    "latent_arithmetic": pb.PERTURBATION_METHOD_LATENT_ARITHMETIC,
    "counterfactual": pb.PERTURBATION_METHOD_COUNTERFACTUAL,
}

# grpc.health.v1.Health/Check. The health messages are a single field each, so they are written and read by
# hand instead of shipping a second copy of health.proto next to grpcio's own.
_HEALTH_CHECK = "/grpc.health.v1.Health/Check"
_HEALTH_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def _encode_health_request(service):
    name = service.encode("utf-8")
    if len(name) > 127:
        raise ValueError("health service name longer than 127 bytes")
    return b"" if not name else b"\x0a" + bytes([len(name)]) + name


def _decode_health_response(data):
    # HealthCheckResponse { ServingStatus status = 1; }: tag 0x08 followed by a one-byte varint (0..3);
    # an empty message means status 0.
    if not data:
        return _HEALTH_STATUS[0]
    if len(data) < 2 or data[0] != 0x08:
        raise errors.Internal(f"malformed HealthCheckResponse: {data!r}")
    return _HEALTH_STATUS.get(data[1], "UNKNOWN")


def _read_credential(value, what):
    """Bytes as they are; a str or path-like names a PEM file. None stays None."""
    if value is None or isinstance(value, bytes):
        return value
    try:
        with open(os.fspath(value), "rb") as pem:
            return pem.read()
    except OSError as error:
        raise ValueError(f"{what}: cannot read '{value}': {error.strerror}") from None


class Client:
    """A connection to one genailab-server.

    Args:
      target: host:port of the server (any gRPC target string, e.g. "dns:///genailab:50051").
      root_certificates: PEM bytes or a file path; when set (or when `tls` is True) the channel uses TLS.
      private_key, certificate_chain: the client's key and certificate (PEM bytes or paths) for mutual TLS.
      token: a bearer token sent as "authorization: Bearer <token>" on every call.
      tls: use TLS with the system's root certificates even without root_certificates.
      server_name_override: the name to check the server certificate against (tests, IP targets).
      timeout: seconds each call may take.
      max_message_bytes: largest request and response.
      load_balancing: "pick_first" (gRPC's default) or "round_robin", which spreads calls over every
        address the target resolves to, e.g. the pods behind Kubernetes' headless genailab-server Service
        ("dns:///genailab-server.<namespace>.svc.cluster.local:50051").
      stream_above_cells: generate() asks for more cells than this through GenerateStream (0 = always).
    """

    def __init__(self, target, *, root_certificates=None, private_key=None, certificate_chain=None,
                 token=None, tls=False, server_name_override=None, timeout=60.0,
                 max_message_bytes=256 << 20, load_balancing="pick_first", stream_above_cells=65536):
        if (private_key is None) != (certificate_chain is None):
            raise ValueError("private_key and certificate_chain must be given together")
        if load_balancing not in ("pick_first", "round_robin"):
            raise ValueError(f"load_balancing must be 'pick_first' or 'round_robin', got '{load_balancing}'")
        options = [("grpc.max_send_message_length", max_message_bytes),
                   ("grpc.max_receive_message_length", max_message_bytes),
                   ("grpc.service_config", json.dumps({"loadBalancingConfig": [{load_balancing: {}}]}))]
        if server_name_override:
            options.append(("grpc.ssl_target_name_override", server_name_override))
        if tls or root_certificates is not None or private_key is not None:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read_credential(root_certificates, "root_certificates"),
                private_key=_read_credential(private_key, "private_key"),
                certificate_chain=_read_credential(certificate_chain, "certificate_chain"))
            self._channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._stub = pb_grpc.GenerativeServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._timeout = timeout
        if stream_above_cells < 0:
            raise ValueError(f"stream_above_cells must be >= 0, got {stream_above_cells}")
        self._stream_above_cells = stream_above_cells
        # ModelInfo per (model, version): a published version never changes. Unary inference requests ask the
        # server to leave gene names out of its responses (omit_column_names) and take them from here,
        # fetched once per version.
        self._versions = {}

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *unused):
        self.close()

    # Models.

    def list_models(self):
        """The newest loaded version of every model, as genailab.v1.ModelInfo messages."""
        return list(self._call(self._stub.ListModels, pb.ListModelsRequest()).models)

    def get_model(self, model, version=0):
        """genailab.v1.ModelInfo of `model` (version 0 = newest). Raises NotFound for an unknown model."""
        request = pb.GetModelRequest(model=pb.ModelSpec(name=model, version=version))
        return self._call(self._stub.GetModel, request).model

    def load_model(self, model, version=0):
        """Loads `version` (0 = the newest in the repository) and returns its genailab.v1.ModelInfo.

        Raises NotFound when the repository has no such model or version."""
        request = pb.LoadModelRequest(model=pb.ModelSpec(name=model, version=version))
        return self._call(self._stub.LoadModel, request).model

    def unload_model(self, model, version=0):
        """Stops serving `version` (0 = every loaded version); running requests finish first."""
        self._call(self._stub.UnloadModel, pb.UnloadModelRequest(model=pb.ModelSpec(name=model, version=version)))

    def health(self, service=""):
        """The gRPC health status of `service` ("" = the whole server): "SERVING", "NOT_SERVING", ..."""
        check = self._channel.unary_unary(_HEALTH_CHECK, request_serializer=None, response_deserializer=None)
        return _decode_health_response(self._call(check, _encode_health_request(service)))

    # Inference.

    def encode(self, adata, covariate_keys=(), *, model, version=0, layer=None, zero_fill_missing=False,
               ignore_unknown=False):
        """Posterior means and variances (cells x latent_dim float32 arrays) of the cells in `adata`.

        covariate_keys: obs columns sent as covariates (a conditional model needs all of its covariates).
        layer: the AnnData layer to send instead of X.
        """
        request = pb.EncodeRequest(
            model=pb.ModelSpec(name=model, version=version),
            cells=self._cells(adata, layer),
            covariates=_covariate_columns(adata, covariate_keys),
            gene_matching=pb.GeneMatching(zero_fill_missing=zero_fill_missing, ignore_unknown=ignore_unknown),
            omit_column_names=True)
        response = self._call(self._stub.Encode, request)
        return EncodeResult(matrices.from_matrix(response.latent_mean)[0],
                            matrices.from_matrix(response.latent_variance)[0])

    def decode(self, latent, covariates=None, *, model, version=0, library_size=None):
        """AnnData of the decoder's mean for `latent` (cells x latent_dim).

        covariates: {name: one value per cell}. library_size: one total count per cell (NB models).
        """
        latent = np.asarray(latent, dtype=np.float32)
        request = pb.DecodeRequest(
            model=pb.ModelSpec(name=model, version=version),
            latent=matrices.to_matrix(latent),
            covariates=[pb.CovariateColumn(name=name, values=[str(v) for v in values])
                        for name, values in (covariates or {}).items()],
            omit_column_names=True)
        if library_size is not None:
            request.library_size.extend(np.asarray(library_size, dtype=np.float32).tolist())
        response = self._call(self._stub.Decode, request)
        obs = pd.DataFrame({name: [str(v) for v in values] for name, values in (covariates or {}).items()},
                           index=[str(i) for i in range(latent.shape[0])])
        return self._anndata(response.expression, obs, model, response.model.version,
                             named=lambda: self._named(self._stub.Decode, request).expression)

    def generate(self, groups, *, model, version=0, seed=0, library_size=0.0, sample_counts=False,
                 sampler="", steps=0, eta=0.0, guidance_scale=0.0):
        """AnnData of generated cells, groups in order, with each cell's covariates in obs.

        groups: [(covariates dict, n_cells), ...], e.g. [({"cell_type": "B"}, 100)].
        sampler, steps, eta, guidance_scale: iterative models (diffusion, flow matching) only; empty / 0 =
        the model's defaults; get_model(...).samplers lists the samplers a model accepts. The same seed and
        options give the same cells. Above `stream_above_cells` cells in all (see Client) the cells come
        through generate_stream() and are concatenated: the same AnnData, past the server's
        max_cells_per_request and message limit.
        """
        if sum(n for _, n in groups) > self._stream_above_cells:
            chunks = list(self.generate_stream(
                groups, model=model, version=version, seed=seed, library_size=library_size,
                sample_counts=sample_counts, sampler=sampler, steps=steps, eta=eta, guidance_scale=guidance_scale))
            if chunks:
                return anndata.concat(chunks, axis=0, merge="same")
        request = pb.GenerateRequest(
            model=pb.ModelSpec(name=model, version=version), seed=seed, library_size=library_size,
            sample_counts=sample_counts,
            groups=[pb.GenerationGroup(covariates={k: str(v) for k, v in covariates.items()}, n_cells=n)
                    for covariates, n in groups],
            sampler=_sampler_options(sampler, steps, eta, guidance_scale), omit_column_names=True)
        response = self._call(self._stub.Generate, request)
        obs = pd.DataFrame({column.name: list(column.values) for column in response.covariates},
                           index=[str(i) for i in range(response.cells.rows)])
        return self._anndata(response.cells, obs, model, response.model.version,
                             named=lambda: self._named(self._stub.Generate, request).cells)

    def generate_stream(self, groups, *, model, version=0, seed=0, library_size=0.0, sample_counts=False,
                        chunk_cells=0, sampler="", steps=0, eta=0.0, guidance_scale=0.0):
        """Like generate(), but yields the cells as AnnData chunks of `chunk_cells` cells (0 = the server's
        default) as they arrive, so that large requests never sit in one message or in memory at once.
        The chunks, concatenated, equal generate()'s answer for the same arguments."""
        request = pb.GenerateStreamRequest(
            request=pb.GenerateRequest(
                model=pb.ModelSpec(name=model, version=version), seed=seed, library_size=library_size,
                sample_counts=sample_counts,
                groups=[pb.GenerationGroup(covariates={k: str(v) for k, v in covariates.items()}, n_cells=n)
                        for covariates, n in groups],
                sampler=_sampler_options(sampler, steps, eta, guidance_scale)),
            chunk_cells=chunk_cells)
        first_cell = 0
        try:
            for response in self._stub.GenerateStream(request, timeout=self._timeout, metadata=self._metadata):
                obs = pd.DataFrame({column.name: list(column.values) for column in response.covariates},
                                   index=[str(first_cell + i) for i in range(response.cells.rows)])
                first_cell += response.cells.rows
                yield self._anndata(response.cells, obs, model, response.model.version)
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error) from None

    def predict_perturbation(self, adata, source, target, covariate_keys=(), *, model, version=0,
                             method="default", layer=None, zero_fill_missing=False, ignore_unknown=False,
                             seed=0, sampler="", steps=0, eta=0.0, guidance_scale=0.0):
        """AnnData of the cells in `adata` (under `source`) predicted under `target`.

        covariate_keys: obs columns other than the condition that the model is conditioned on.
        method: "default", "latent_arithmetic" (scGen) or "counterfactual" (conditional models).
        seed, sampler, steps, eta, guidance_scale: iterative models only, as in generate().
        The result's obs is a copy of adata.obs with the model's condition column (if any) set to `target`.
        """
        if method not in _METHODS:
            raise ValueError(f"method must be one of {sorted(_METHODS)}, got '{method}'")
        request = pb.PredictPerturbationRequest(
            model=pb.ModelSpec(name=model, version=version),
            cells=self._cells(adata, layer),
            covariates=_covariate_columns(adata, covariate_keys),
            source_condition=source, target_condition=target, method=_METHODS[method],
            gene_matching=pb.GeneMatching(zero_fill_missing=zero_fill_missing, ignore_unknown=ignore_unknown),
            seed=seed, sampler=_sampler_options(sampler, steps, eta, guidance_scale), omit_column_names=True)
        response = self._call(self._stub.PredictPerturbation, request)
        obs = adata.obs.copy()
        condition_key = self._version_info(model, response.model.version).condition_key
        if condition_key:
            obs[condition_key] = target
        return self._anndata(response.cells, obs, model, response.model.version)

    # Implementation details follow.

    @staticmethod
    def _cells(adata, layer):
        values = adata.X if layer is None else adata.layers[layer]
        return matrices.to_matrix(values, adata.var_names)

    def _version_info(self, model, version):
        """ModelInfo of one published version, fetched once."""
        info = self._versions.get((model, version))
        if info is None:
            info = self.get_model(model, version)
            self._versions[(model, version)] = info
        return info

    def _anndata(self, matrix, obs, model, version, named=None):
        """AnnData of a response matrix; its genes are the matrix's column names or, when the server left
        them out, the version's gene names. `named` (optional) asks again with the names included, for
        the rare version retired between its answer and the first GetModel for it."""
        values, genes = matrices.from_matrix(matrix)
        if not genes and matrix.cols:
            try:
                genes = list(self._version_info(model, version).gene_names)
            except errors.NotFound:
                if named is None:
                    raise
                values, genes = matrices.from_matrix(named())
            if len(genes) != matrix.cols:
                raise errors.Internal(f"model '{model}' version {version} has {len(genes)} genes, the response "
                                      f"{matrix.cols} columns")
        obs = obs.copy()
        obs.index = obs.index.astype(str)
        return anndata.AnnData(X=values, obs=obs, var=pd.DataFrame(index=[str(g) for g in genes]))

    def _named(self, method, request):
        """`request` again, with the names in its response."""
        again = type(request)()
        again.CopyFrom(request)
        again.omit_column_names = False
        return self._call(method, again)

    def _call(self, method, request):
        try:
            return method(request, timeout=self._timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error) from None


def _covariate_columns(adata, keys):
    columns = []
    for key in keys:
        if key not in adata.obs:
            raise ValueError(f"covariate_keys: '{key}' is not an obs column")
        columns.append(pb.CovariateColumn(name=key, values=adata.obs[key].astype(str).tolist()))
    return columns


def _sampler_options(sampler, steps, eta, guidance_scale):
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    if guidance_scale < 0:
        raise ValueError(f"guidance_scale must be >= 0, got {guidance_scale}")
    return pb.SamplerOptions(sampler=sampler, steps=steps, eta=eta, guidance_scale=guidance_scale)
