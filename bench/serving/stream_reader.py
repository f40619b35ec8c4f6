#!/usr/bin/python3
"""Reads one GenerateStream of --cells cells from --target, --reads times, as a pipeline would (Debian's
python3-grpcio, raw messages, nothing kept), and prints one JSON line in serving_load's shape: the
stream's cells per second over all reads, and per-read times as the latency percentiles.

  /usr/bin/python3 bench/serving/stream_reader.py --target=127.0.0.1:50051 --model=bench_cvae --cells=400000
"""
import argparse
import json
import os
import time

import grpc

import genailab_protos


def cpu_seconds(pid):
    """User + system CPU seconds of `pid` (see bench/serving/process_cpu.cc), or None."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--cells", type=int, default=400000)
    parser.add_argument("--chunk_cells", type=int, default=4096)
    parser.add_argument("--reads", type=int, default=3)
    parser.add_argument("--label", default="genailab")
    parser.add_argument("--cpu_pid", type=int, default=0, help="server pid whose CPU time to report")
    args = parser.parse_args()
    pb, pb_grpc = genailab_protos.compile_proto(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    channel = grpc.insecure_channel(args.target, options=[("grpc.max_receive_message_length", -1)])
    stub = pb_grpc.GenerativeServiceStub(channel)
    info = stub.GetModel(pb.GetModelRequest(model=pb.ModelSpec(name=args.model))).model
    group = pb.GenerationGroup(covariates={c.name: c.values[0] for c in info.covariates}, n_cells=args.cells)
    request = pb.GenerateStreamRequest(
        request=pb.GenerateRequest(model=pb.ModelSpec(name=args.model), groups=[group], seed=1),
        chunk_cells=args.chunk_cells)
    for _ in stub.GenerateStream(request):  # warm-up read, not measured
        pass
    times, cells = [], 0
    server_start, self_start = cpu_seconds(args.cpu_pid) if args.cpu_pid else None, time.process_time()
    for _ in range(args.reads):
        start = time.perf_counter()
        for message in stub.GenerateStream(request):
            cells += message.cells.rows
        times.append(time.perf_counter() - start)
    server_end = cpu_seconds(args.cpu_pid) if args.cpu_pid else None
    seconds = sum(times)
    times_ms = sorted(t * 1000 for t in times)
    pick = lambda q: times_ms[min(len(times_ms) - 1, int(q * len(times_ms)))]  # noqa: E731
    cpu = {"self": time.process_time() - self_start}
    if server_start is not None and server_end is not None:
        cpu[str(args.cpu_pid)] = server_end - server_start
    print(json.dumps({
        "label": args.label, "rpc": "generate_stream", "cells": args.cells, "mode": "stream",
        "concurrency": 1, "rate": 0.0, "requests_per_second": len(times) / seconds,
        "cells_per_second": cells / seconds, "p50_ms": pick(0.5), "p90_ms": pick(0.9), "p99_ms": pick(0.99),
        "seconds": seconds, "completed": len(times), "failed": 0, "first_error": "", "cpu_seconds": cpu,
    }))


if __name__ == "__main__":
    main()
