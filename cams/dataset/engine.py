"""The local engine: read ahead in threads, explain in this thread, write in another.

Each of the three stages works on a different batch at a time, so reading and writing overlap
the model; at most a few batches are held in memory whatever the dataset's size.
"""
from concurrent.futures import ThreadPoolExecutor


def run(step, batches, write, on_batch=lambda batch, result: None):
    """Explain every batch of `batches` with `step` and hand (result, batch) to write(), one
    write in flight while the next batch is explained. on_batch(batch, result) runs after each
    step (progress, warnings). Returns the number of rows seen. An exception (Ctrl-C
    included) stops the run after the writes already started have finished."""
    seen, in_flight = 0, None
    with ThreadPoolExecutor(1, thread_name_prefix="cams-writer") as writer:
        try:
            for batch in batches:
                result = step(batch)
                if in_flight is not None:
                    in_flight.result()  # surfaces a write error; keeps one write in flight
                in_flight = writer.submit(write, result, batch)
                seen += len(result["row"])
                on_batch(batch, result)
        finally:
            if in_flight is not None:
                in_flight.result()
    return seen
