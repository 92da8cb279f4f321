"""Makes docs/colour-control.png: one content x style under each colour control (stand-in model).

.venv/bin/python docs/colour_control.py     # about 7 minutes on 2 busy CPU cores

The random stand-in network (model `random`), not the VGG-19: the picture shows what each
option does to the colours, not what real style transfer looks like.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylesweep import images, present, tensors, transfer  # noqa: E402
from stylesweep.models import build_extractor, get_spec  # noqa: E402
from stylesweep.options import Options  # noqa: E402

CONTENT = ROOT / "inputs/content/chelsea.png"
STYLE = ROOT / "inputs/styles/vangogh_cafe_terrace_at_night.png"
OUT = ROOT / "docs/colour-control.png"
# The run of docs/contact-sheet.yaml: 128 px, 60 iterations from the content, style weight 1000.
RUN = dict(image_size=128, num_iterations=60, init="image", style_weight=1000.0, print_iter=0,
           save_iter=0, model="random")  # fmt: skip
COLUMNS = {
    "none": {},
    "original_colors": {"original_colors": True},
    "luminance (lab)": {"color_control": "luminance", "color_space": "lab"},
    "histogram (sym)": {"color_control": "histogram", "histogram_match": "sym"},
}


def main() -> None:
    base = Options(content_image=str(CONTENT), style_image=(str(STYLE),), **RUN)
    spec = get_spec("random")
    extractor = build_extractor(spec, (*base.content_layers, *base.style_layers))
    content = tensors.load_tensor(CONTENT, base.image_size)
    style = tensors.load_tensor(STYLE, images.style_size(base.image_size, base.style_scale))
    cells = []
    for label, changes in COLUMNS.items():
        opts = base.replace(**changes)
        (result,) = transfer.stylize([opts], extractor, spec.convention, content, [style])
        cells.append(tensors.to_image(result.image))
        print(f"{label}: final total loss {result.final_losses['total']:.4g}")
    sheet = present.contact_sheet(
        [cells],
        row_headers=[present.header("chelsea x cafe terrace", [CONTENT, STYLE])],
        col_headers=[present.Header(label) for label in COLUMNS],
        corner=present.Header("random stand-in model, not real style transfer"),
        cell=160,
    )
    # 256 colours keep the file small, as docs/contact-sheet.png.
    sheet.quantize(256).save(OUT, optimize=True)
    print(OUT)


if __name__ == "__main__":
    main()
