#!/usr/bin/env python3
"""Serves the events of an AEDAT 4 file as a DV network stream with the
`dv-processing` package's NetworkWriter (the server iniVation's software
uses): the reference server of trainer/tests/stream.rs.

    python3 scripts/dv_server.py PORT FILE.aedat4

Prints `listening`, waits (at most 20 s) for a client, sends every event
batch of the file, waits until the queue is drained, prints `sent N` and
exits at once (closing the connection, as a server going away does).
"""

import os
import sys
import time

import dv_processing as dv


def main(port, path):
    rec = dv.io.MonoCameraRecording(path)
    stream = dv.io.Stream.EventStream(0, "events", "slayer-test", rec.getEventResolution())
    server = dv.io.NetworkWriter("127.0.0.1", port, stream)
    print("listening", flush=True)
    deadline = time.time() + 20
    while server.getClientCount() == 0:
        if time.time() > deadline:
            sys.exit("no client connected")
        time.sleep(0.01)
    sent = 0
    while rec.isRunning():
        batch = rec.getNextEventBatch()
        if batch is None:
            break
        if len(batch) > 0:
            server.writeEvents(batch)
            sent += len(batch)
    while server.getQueuedPacketCount() > 0:
        time.sleep(0.01)
    time.sleep(0.3)
    print(f"sent {sent}", flush=True)
    # The writer's destructor waits for connected clients to leave; a
    # server that goes away closes its connections at once.
    os._exit(0)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
