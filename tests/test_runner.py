"""The runner from files to files: the init image is read at the content's size."""

from __future__ import annotations

import numpy as np
from conftest import tiny_options
from PIL import Image

from stylesweep import runner


def test_init_image_is_the_first_frame_at_the_contents_size(tiny_images, tmp_path):
    # style_b (32x44) as the start of a 48x32 content: the first evaluated image is it, resized
    # (bilinear, as neural-style) to the content's size.
    opts = tiny_options(
        tiny_images,
        init="image",
        init_image=str(tiny_images["style_b"]),
        image_size=48,
        num_iterations=2,
        save_iter=1,
        output_image=str(tmp_path / "out.png"),
    )
    frames = str(tmp_path / "frames" / "{iteration}.png")
    result = runner.run_one(opts, runner.RunOutputs(frames=frames))
    first = np.asarray(Image.open(tmp_path / "frames" / "1.png"), dtype=float)
    expected = Image.open(tiny_images["style_b"]).convert("RGB").resize((48, 32), Image.BILINEAR)
    assert first.shape == (32, 48, 3)
    assert np.abs(first - np.asarray(expected, dtype=float)).max() <= 1
    assert result.record["inputs"]["init_image"]["path"] == str(tiny_images["style_b"])
