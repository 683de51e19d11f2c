"""A text graph that lets OpenCV run an SSD frozen graph of the TensorFlow Object Detection API.

OpenCV cannot import such a graph as it is: its preprocessing, anchor generator and
postprocessing (while loops, non-maximum suppression) are TensorFlow ops it does not have.
It takes the binary graph for the weights and a text graph for the layers, so we write a
text graph that keeps the feature extractor and the box predictors and replaces the rest
with OpenCV's own SSD layers (``PriorBox`` per feature map, ``DetectionOutput``).

How: ``cv2.dnn.writeTextGraph`` writes the graph as text without the weights; we keep the
nodes of the convolutional body (constants are read from the binary graph by name), feed
the first convolution straight from the input placeholder, then add per box predictor a
``Flatten`` of its class and box outputs, one ``PriorBox`` with the anchor sizes of its
layer, and the concatenations, a ``Sigmoid`` and the ``DetectionOutput`` (a
``[1, 1, N, 7]`` tensor of ``image, class, score, x0, y0, x1, y1``).

What is read from the graph: the number of box predictors (feature maps), the anchors per
location of each (from the box predictor's output channels) and the number of classes
(from the class predictor's channels). The anchor scales are those of the API's
``ssd_anchor_generator`` defaults (``min_scale`` 0.2, ``max_scale`` 0.95, aspect ratios
1, 2, 1/2, 3, 1/3, three boxes in the lowest layer), which the graph stores only inside
ops; a graph whose anchor counts do not fit them is refused.
"""

from __future__ import annotations

import math
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2

from villagewatch.errors import VillagewatchError

__all__ = ["SsdGraphError", "SsdLayout", "ssd_text_graph"]

_KEEP_OPS = {
    "Conv2D", "BiasAdd", "Add", "AddV2", "Relu6", "Relu", "Placeholder", "FusedBatchNorm",
    "FusedBatchNormV3", "DepthwiseConv2dNative", "ConcatV2", "Mul", "MaxPool", "AvgPool",
}  # fmt: skip
_DROP_PREFIXES = ("MultipleGridAnchorGenerator/", "Postprocessor/", "Preprocessor/")
_MIN_SCALE, _MAX_SCALE = 0.2, 0.95
_RATIOS = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
_NODE = re.compile(r"(?m)^node \{\n")
_FIELD = re.compile(r'(?m)^  (name|op|input): "(.*)"$')
_DIMS = re.compile(r"size: (\d+)")


class SsdGraphError(VillagewatchError):
    """The frozen graph is not an SSD graph of the TensorFlow Object Detection API we know."""


@dataclass(frozen=True, slots=True)
class SsdLayout:
    """What was read from the graph."""

    input_name: str
    anchors: tuple[int, ...]
    """Anchors per location of each feature map, lowest first."""
    num_classes: int
    """Classes without the background (class ids 1..num_classes in the output)."""


@dataclass(slots=True)
class _Node:
    name: str
    op: str
    inputs: list[str]
    body: str


def _parse(text: str) -> list[_Node]:
    nodes = []
    for block in _NODE.split(text)[1:]:
        fields: dict[str, list[str]] = {"name": [], "op": [], "input": []}
        for key, value in _FIELD.findall(block):
            fields[key].append(value)
        if not fields["name"] or not fields["op"]:
            raise SsdGraphError("a node of the text graph has no name or op")
        body = "\n".join(line for line in block.splitlines() if not line.startswith("  input: "))
        nodes.append(_Node(fields["name"][0], fields["op"][0], fields["input"], body))
    return nodes


def _shape(node: _Node) -> list[int]:
    return [int(d) for d in _DIMS.findall(node.body)]


def _tensor(values: list[float] | list[int]) -> str:
    kind, field = (
        ("DT_INT32", "int_val") if isinstance(values[0], int) else ("DT_FLOAT", "float_val")
    )
    vals = " ".join(f"{field}: {v}" for v in values)
    return f"tensor {{ dtype: {kind} tensor_shape {{ dim {{ size: {len(values)} }} }} {vals} }}"


def _node(name: str, op: str, inputs: list[str], attrs: dict[str, str] | None = None) -> str:
    lines = [f'node {{\n  name: "{name}"\n  op: "{op}"']
    lines += [f'  input: "{i}"' for i in inputs]
    lines += [f'  attr {{ key: "{k}" value {{ {v} }} }}' for k, v in (attrs or {}).items()]
    return "\n".join(lines) + "\n}\n"


def _layout(by_name: dict[str, _Node], placeholder: str) -> SsdLayout:
    anchors: list[int] = []
    classes: set[int] = set()
    i = 0
    while f"BoxPredictor_{i}/BoxEncodingPredictor/weights" in by_name:
        box = _shape(by_name[f"BoxPredictor_{i}/BoxEncodingPredictor/weights"])
        cls = by_name.get(f"BoxPredictor_{i}/ClassPredictor/weights")
        if len(box) != 4 or box[3] % 4 or cls is None or len(_shape(cls)) != 4:
            raise SsdGraphError(f"box predictor {i} has weights of an unexpected shape")
        anchors.append(box[3] // 4)
        per_anchor, rest = divmod(_shape(cls)[3], anchors[-1])
        if rest:
            raise SsdGraphError(f"box predictor {i}: class outputs do not divide by its anchors")
        classes.add(per_anchor - 1)
        i += 1
    if not anchors:
        raise SsdGraphError(
            "no BoxPredictor_0/BoxEncodingPredictor in the graph: not an SSD graph of the "
            "TensorFlow Object Detection API"
        )
    if len(classes) != 1 or min(classes) < 1:
        raise SsdGraphError(f"box predictors disagree on the number of classes: {classes}")
    want = [3] + [len(_RATIOS) + 1] * (len(anchors) - 1)
    if anchors != want or len(anchors) < 2:
        raise SsdGraphError(
            f"anchors per location {anchors} are not those of the default ssd_anchor_generator "
            f"({want}); such a graph needs its own text graph"
        )
    return SsdLayout(placeholder, tuple(anchors), classes.pop())


def _prior_sizes(layer: int, layers: int, size: tuple[int, int]) -> tuple[list[float], list[float]]:
    scales = [_MIN_SCALE + (_MAX_SCALE - _MIN_SCALE) * i / (layers - 1) for i in range(layers)] + [
        1.0
    ]
    if layer == 0:  # reduce_boxes_in_lowest_layer: a small square and two of min_scale
        pairs = [(0.1, 1.0), (_MIN_SCALE, 2.0), (_MIN_SCALE, 0.5)]
    else:
        pairs = [(scales[layer], r) for r in _RATIOS]
        pairs.append((math.sqrt(scales[layer] * scales[layer + 1]), 1.0))
    w = [round(s * math.sqrt(r) * size[0], 4) for s, r in pairs]
    h = [round(s / math.sqrt(r) * size[1], 4) for s, r in pairs]
    return w, h


def ssd_text_graph(frozen: Path, size: tuple[int, int]) -> tuple[str, SsdLayout]:
    """The text graph for OpenCV of the SSD frozen graph ``frozen`` trained on ``size``
    (width, height) pictures, and what was read from the graph.

    Raises :class:`SsdGraphError` when the file is not such a graph.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "graph.pbtxt"
        try:
            cv2.dnn.writeTextGraph(str(frozen), str(out))
            text = out.read_text()
        except (cv2.error, OSError) as exc:
            msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise SsdGraphError(f"{frozen}: not a TensorFlow frozen graph ({msg})") from None
    nodes = _parse(text)
    by_name = {n.name: n for n in nodes}
    placeholders = [n.name for n in nodes if n.op == "Placeholder"]
    if len(placeholders) != 1:
        raise SsdGraphError(f"{frozen}: expected one input placeholder, found {len(placeholders)}")
    layout = _layout(by_name, placeholders[0])

    identity = {n.name: n.inputs[0] for n in nodes if n.op == "Identity" and n.inputs}

    def through(name: str) -> str:
        while name in identity:
            name = identity[name]
        return name

    kept = {n.name: n for n in nodes if n.op in _KEEP_OPS and not n.name.startswith(_DROP_PREFIXES)}
    consts = {n.name for n in nodes if n.op == "Const"}
    for n in kept.values():
        inputs = [through(i) for i in n.inputs]
        fed = [i for i in inputs if i in kept or i in consts]
        if n.op == "Conv2D" and len(fed) == 1 and fed[0] in consts:
            fed.insert(0, layout.input_name)  # the first convolution, once fed by Preprocessor
        n.inputs = fed

    layers = len(layout.anchors)
    extra = [
        _node("concat/axis_flatten", "Const", [], {"value": _tensor([-1])}),
        _node("PriorBox/concat/axis", "Const", [], {"value": _tensor([-2])}),
        _node("reshape_prior_boxes_to_4d", "Const", [], {"value": _tensor([1, 2, -1, 1])}),
    ]
    for label in ("ClassPredictor", "BoxEncodingPredictor"):
        flat = []
        for i in range(layers):
            src = f"BoxPredictor_{i}/{label}/BiasAdd"
            if src not in kept:
                raise SsdGraphError(f"{frozen}: no {src} in the graph")
            extra.append(_node(f"{src}/Flatten", "Flatten", [src]))
            flat.append(f"{src}/Flatten")
        extra.append(_node(f"{label}/concat", "ConcatV2", [*flat, "concat/axis_flatten"]))
    priors = []
    for i in range(layers):
        w, h = _prior_sizes(i, layers, size)
        attrs = {
            "flip": "b: false",
            "clip": "b: false",
            "width": _tensor(w),
            "height": _tensor(h),
            "variance": _tensor([0.1, 0.1, 0.2, 0.2]),
        }
        src = f"BoxPredictor_{i}/BoxEncodingPredictor/BiasAdd"
        extra.append(_node(f"PriorBox_{i}", "PriorBox", [src, layout.input_name], attrs))
        extra.append(
            _node(f"PriorBox_{i}/4d", "Reshape", [f"PriorBox_{i}", "reshape_prior_boxes_to_4d"])
        )
        priors.append(f"PriorBox_{i}/4d")
    extra.append(_node("PriorBox/concat", "ConcatV2", [*priors, "PriorBox/concat/axis"]))
    extra.append(_node("ClassPredictor/concat/sigmoid", "Sigmoid", ["ClassPredictor/concat"]))
    extra.append(
        _node(
            "detection_out",
            "DetectionOutput",
            ["BoxEncodingPredictor/concat", "ClassPredictor/concat/sigmoid", "PriorBox/concat"],
            {
                "num_classes": f"i: {layout.num_classes + 1}",
                "share_location": "b: true",
                "background_label_id": "i: 0",
                "nms_threshold": "f: 0.6",
                "top_k": "i: 100",
                "keep_top_k": "i: 100",
                "code_type": 's: "CENTER_SIZE"',
                "confidence_threshold": "f: 0.01",
                "loc_pred_transposed": "b: true",
            },
        )
    )
    return _body(kept) + "".join(extra), layout


def _body(kept: dict[str, _Node]) -> str:
    """The kept nodes that feed a box predictor, inputs before the nodes that use them (the
    order OpenCV's importer reads them in)."""
    needed: set[str] = set()
    stack = [n for n in kept if re.fullmatch(r"BoxPredictor_\d+/\w+Predictor/BiasAdd", n)]
    while stack:
        name = stack.pop()
        if name in needed or name not in kept:
            continue
        needed.add(name)
        stack.extend(kept[name].inputs)
    ordered: list[str] = []
    done: set[str] = set()
    for root in sorted(needed):
        todo = [(root, False)]
        while todo:
            name, expanded = todo.pop()
            if name in done or name not in needed:
                continue
            if expanded:
                done.add(name)
                ordered.append(name)
                continue
            todo.append((name, True))
            todo.extend((i, False) for i in kept[name].inputs if i not in done)
    out = []
    for name in ordered:
        n = kept[name]
        lines = n.body.splitlines()
        at = next(k for k, line in enumerate(lines) if line.startswith("  op: ")) + 1
        lines[at:at] = [f'  input: "{i}"' for i in n.inputs]
        out.append("node {\n" + "\n".join(lines).rstrip() + "\n")
    return "".join(out)
