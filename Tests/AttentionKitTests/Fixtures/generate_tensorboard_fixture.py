#!/usr/bin/env python3
"""Writes tensorboard/reference.tfevents with the `tensorboard` package's own record writer and protocol buffers
(the summaries built by torch.utils.tensorboard, as a PyTorch user's SummaryWriter would): the file-version event,
two scalar events and a text event, at fixed wall times. TensorBoardTests writes the same events with AttentionKit's
writer and compares the bytes.

With a path argument, instead loads that event file (or every event file in that run directory) with TensorBoard's
own reader (EventAccumulator) and prints its scalars and text: the check that TensorBoard reads what `attn train`
writes. Needs `pip install tensorboard torch`."""
import os
import sys

from tensorboard.compat.proto import event_pb2
from tensorboard.summary.writer.record_writer import RecordWriter
from torch.utils.tensorboard import summary

HERE = os.path.dirname(os.path.abspath(__file__))


def write_reference():
    path = os.path.join(HERE, "tensorboard", "reference.tfevents")
    with open(path, "wb") as fh:
        w = RecordWriter(fh)
        events = [
            event_pb2.Event(wall_time=1700000000.0, file_version="brain.Event:2"),
            event_pb2.Event(wall_time=1700000001.5, step=1, summary=summary.scalar("step/loss", 2.5)),
            event_pb2.Event(wall_time=1700000002.25, step=7, summary=summary.scalar("epoch/val_accuracy", 0.8125)),
            event_pb2.Event(wall_time=1700000003.0, step=0, summary=summary.text("config", "```\n{\"task\": \"vit\"}\n```")),
        ]
        for e in events:
            w.write(e.SerializeToString())
        w.flush()
    print(f"wrote {path}: {os.path.getsize(path)} bytes")


def read(path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(path, size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    for tag in tags["scalars"]:
        points = acc.Scalars(tag)
        print(f"{tag}: {len(points)} points, first (step {points[0].step}, {points[0].value:.6g}), last (step {points[-1].step}, {points[-1].value:.6g})")
    for tag in tags["tensors"]:
        t = acc.Tensors(tag)[0].tensor_proto
        print(f"{tag} (text): {t.string_val[0][:60]!r}…")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        read(sys.argv[1])
    else:
        write_reference()
