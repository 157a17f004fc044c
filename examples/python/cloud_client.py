#!/usr/bin/env python3
"""A cloud-side client of a floorgate gateway, in Python with grpcio.

It does what a fulfillment system does with a site: discovers the site,
submits tasks (idempotently), follows the event journal, resumes after a
disconnect from the last seq it processed without losing or repeating an
event, and acknowledges what it has so the gateway may compact it.

The stubs are generated from the repository's proto/ at start (grpcio-tools),
so the example always matches the contracts it ships with.

    pip install -r examples/python/requirements.txt
    python3 examples/python/cloud_client.py --server 127.0.0.1:50051

Exits non-zero if the gateway does not behave as its contract says.
"""

import argparse
import importlib
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
PROTOS = [
    "floorgate/v1/task.proto",
    "floorgate/v1/event.proto",
    "floorgate/v1/task_service.proto",
    "floorgate/v1/device_service.proto",
    "floorgate/v1/site_service.proto",
]


def load_stubs(out: Path):
    """Generates the Python stubs from proto/ into `out` and imports them."""
    proto_dir = ROOT / "proto"
    args = ["protoc", f"-I{proto_dir}", f"--python_out={out}", f"--grpc_python_out={out}"]
    if protoc.main(args + [str(proto_dir / p) for p in PROTOS]) != 0:
        sys.exit("generating the stubs from proto/ failed")
    sys.path.insert(0, str(out))
    names = ["task_service_pb2", "task_service_pb2_grpc", "task_pb2", "site_service_pb2",
             "site_service_pb2_grpc"]
    return {n: importlib.import_module(f"floorgate.v1.{n}") for n in names}


def check(condition: bool, what: str):
    if not condition:
        sys.exit(f"FAILED: {what}")
    print(f"ok: {what}")


def read_events(stub, pb, after_seq, journal_id, until, timeout=10.0):
    """Events after `after_seq` until `until(events)` holds; then the stream is closed."""
    request = pb.WatchEventsRequest(after_seq=after_seq, journal_id=journal_id)
    stream = stub.WatchEvents(request, timeout=timeout)
    events = []
    try:
        for e in stream:
            events.append(e)
            if until(events):
                break
    finally:
        stream.cancel()
    return events


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default="127.0.0.1:50051", help="the gateway's gRPC address")
    ap.add_argument("--tasks", type=int, default=5)
    ap.add_argument("--prefix", default=f"PY-{int(time.time())}")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        m = load_stubs(Path(tmp))
    ts, ts_grpc, task_pb = m["task_service_pb2"], m["task_service_pb2_grpc"], m["task_pb2"]
    site_pb, site_grpc = m["site_service_pb2"], m["site_service_pb2_grpc"]

    channel = grpc.insecure_channel(args.server)
    grpc.channel_ready_future(channel).result(timeout=15)
    tasks = ts_grpc.TaskServiceStub(channel)
    site = site_grpc.SiteServiceStub(channel).GetSite(site_pb.GetSiteRequest(), timeout=10)
    journal = site.journal_id
    check(len(journal) == 32, f"site {site.name!r} discovered, journal {journal}")
    stations = [l.id for l in site.locations if l.kind == "station" and not l.pattern]
    buffers = [l for l in site.locations if l.kind == "buffer"]
    check(bool(stations) and bool(buffers), f"stations {stations}, buffer areas {[b.id for b in buffers]}")

    def task(i):
        # A storage-area pattern ("BUF-") names every id that starts with it.
        b = buffers[0]
        source = f"{b.id}{i:02d}" if b.pattern else b.id
        return task_pb.Task(task_id=f"{args.prefix}-{i}", kind=task_pb.TASK_KIND_PICK,
                            sku="SKU-42", quantity=1, load_id=f"TOTE-{args.prefix}-{i}",
                            source=source, destination=stations[0])

    ids = [f"{args.prefix}-{i}" for i in range(args.tasks)]
    first = tasks.SubmitTasks(ts.SubmitTasksRequest(tasks=[task(i) for i in range(args.tasks)]),
                              timeout=10)
    check(all(r.code == 0 and r.created for r in first.results),
          f"{args.tasks} tasks submitted in one call")
    again = tasks.SubmitTask(ts.SubmitTaskRequest(task=task(0)), timeout=10)
    check(not again.created, "a repeated submit is idempotent (created = false)")

    # Follow the journal until every one of our tasks was accepted; remember
    # the last seq, as a consumer persists its cursor.
    mine = lambda evs: {e.task_id for e in evs if e.WhichOneof("kind") == "task_accepted"}
    events = read_events(tasks, ts, 0, journal, lambda evs: set(ids) <= mine(evs))
    check(set(ids) <= mine(events), "every task's task_accepted seen")
    seqs = [e.seq for e in events]
    check(seqs == sorted(set(seqs)), "seqs strictly increasing")
    check(all(e.journal_id == journal for e in events), "every event names the journal")
    cursor = seqs[-1]

    # Disconnected. Meanwhile the site goes on: one more task.
    late = f"{args.prefix}-late"
    t = task(args.tasks)
    t.task_id = late
    t.load_id = f"TOTE-{late}"
    tasks.SubmitTask(ts.SubmitTaskRequest(task=t), timeout=10)

    # Resume from the cursor: nothing seen twice, the late task's events arrive.
    resumed = read_events(tasks, ts, cursor, journal, lambda evs: late in mine(evs))
    check(all(e.seq > cursor for e in resumed), f"resumed after seq {cursor}: no repeat")
    check(late in mine(resumed), "the task submitted while away is seen after the resume")
    cursor = resumed[-1].seq

    ack = tasks.AckEvents(ts.AckEventsRequest(up_to_seq=cursor, journal_id=journal), timeout=10)
    check(ack.acked_seq == cursor and ack.journal_id == journal, f"acknowledged up to {cursor}")
    try:
        read_events(tasks, ts, 0, journal, lambda evs: True, timeout=5)
        check(False, "a cursor below the acknowledged seq is refused")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.OUT_OF_RANGE,
              f"a cursor below the acknowledged seq is OUT_OF_RANGE ({e.details()})")
    try:
        tasks.AckEvents(ts.AckEventsRequest(up_to_seq=cursor, journal_id="0" * 32), timeout=5)
        check(False, "another journal's cursor is refused")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.FAILED_PRECONDITION,
              "another journal's cursor is FAILED_PRECONDITION")
    print("passed: the cloud client's contract holds")


if __name__ == "__main__":
    main()
