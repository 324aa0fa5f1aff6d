"""--engine ray: Ray Data runs the same decode and step in an actor pool on a local 2-CPU Ray,
and the store it writes equals the local engine's, row for row."""
import os

import numpy as np
import pandas as pd
import pytest
import zarr

from cams.dataset.run import explain_dataset
from train.phantoms import write_set

ray = pytest.importorskip("ray")
MODEL = "models/xray_phantoms.keras"


def test_ray_writes_the_store_the_local_engine_writes(tmp_path):
    data = str(tmp_path / "data")
    write_set(data, 12, seed=79, progress=False)
    (tmp_path / "data" / "normal" / "broken.png").write_bytes(b"\x89PNG broken")
    local, on_ray = str(tmp_path / "local"), str(tmp_path / "ray")
    explain_dataset(MODEL, data, local, batch_size=4, progress=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        counts = explain_dataset(MODEL, data, on_ray, batch_size=4, progress=False,
                                 engine_name="ray", overlays=True)
    finally:
        ray.shutdown()
    assert counts["ok"] == 12 and counts["unreadable"] == 1
    a = zarr.open_group(os.path.join(local, "maps.zarr"), mode="r")
    b = zarr.open_group(os.path.join(on_ray, "maps.zarr"), mode="r")
    heat = b["heatmaps"][:].astype(np.float32)
    ok = b["status"][:] == 1
    assert (heat[ok].reshape(ok.sum(), -1).max(axis=1) > 0.99).all() and heat[ok].std() > 0.05
    for key in ("status", "heatmaps", "probabilities", "predicted", "explained"):
        np.testing.assert_allclose(b[key][:].astype(np.float32), a[key][:].astype(np.float32),
                                   atol=1e-3, err_msg=key)
    pd.testing.assert_frame_equal(pd.read_parquet(os.path.join(on_ray, "index.parquet")),
                                  pd.read_parquet(os.path.join(local, "index.parquet")))
    assert len(os.listdir(os.path.join(on_ray, "overlays", "opacity"))) == 6
